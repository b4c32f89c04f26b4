package blast

import (
	"slices"
	"testing"
)

func TestCounter(t *testing.T) {
	msg := func(id string) []byte {
		return []byte("From: <a@remote.test>\r\nMessage-ID: <" + id + "@drill.test>\r\n\r\nBody of " + id + ".\r\n")
	}
	trace := func(b []byte) []byte {
		return append([]byte("Return-Path: <a@remote.test>\r\nDelivered-To: u@example.test\r\nReceived: from x\r\n\tby y\r\n"), b...)
	}
	rs := []Result{
		{ID: "ok", Rcpt: "u@example.test", Data: msg("ok"), Code: 250},
		{ID: "twice", Rcpt: "u@example.test", Data: msg("twice"), Code: 250},
		{ID: "lost", Rcpt: "u@example.test", Data: msg("lost"), Code: 250},
		{ID: "altered", Rcpt: "u@example.test", Data: msg("altered"), Code: 250},
		{ID: "deferred", Rcpt: "u@example.test", Data: msg("deferred"), Code: 451},
		{ID: "cut", Rcpt: "u@example.test", Data: msg("cut"), Code: 0},
		{ID: "cut-missing", Rcpt: "u@example.test", Data: msg("cut-missing"), Code: 0},
		{ID: "elsewhere", Rcpt: "v@example.test", Data: msg("elsewhere"), Code: 250},
	}
	c := newCounter("u@example.test", rs)
	for _, stored := range [][]byte{
		trace(msg("ok")),
		trace(msg("twice")), trace(msg("twice")),
		trace(append(msg("altered"), 'x')),
		trace(msg("deferred")),
		trace(msg("cut")),
		trace(msg("elsewhere")), // sent to another account
		[]byte("Subject: no Message-ID\r\n\r\n"),
	} {
		c.add(stored)
	}
	got := c.tally()
	want := Tally{Accepted: 4, Delivered: 4, Lost: 1, Duplicated: 1, Mismatched: 1, Unexpected: 1, Others: 2}
	if got != want {
		t.Fatalf("tally =\n %+v\nwant\n %+v", got, want)
	}
	wantProblems := []string{"1 accepted but lost", "1 delivered more than once", "1 delivered with other bytes than sent", "1 delivered though refused"}
	if p := got.Problems(); !slices.Equal(p, wantProblems) {
		t.Fatalf("Problems = %q, want %q", p, wantProblems)
	}
	var sum Tally
	sum.Add(got)
	sum.Add(got)
	if sum.Delivered != 8 || sum.Others != 4 {
		t.Fatalf("Add twice = %+v", sum)
	}
}
