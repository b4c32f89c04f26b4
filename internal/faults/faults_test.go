package faults

import (
	"encoding/json"
	"testing"
)

func TestParse(t *testing.T) {
	for f := None; f <= NoSpace; f++ {
		got, err := Parse(f.String())
		if err != nil || got != f {
			t.Fatalf("Parse(%q) = %v, %v; want %v", f.String(), got, err, f)
		}
	}
	if got, err := Parse(" ReadOnly\n"); err != nil || got != ReadOnly {
		t.Fatalf("Parse is not case and space tolerant: %v, %v", got, err)
	}
	for _, bad := range []string{"", "errors", "read-only", "fault(7)", "hang now"} {
		if _, err := Parse(bad); err == nil {
			t.Fatalf("Parse(%q) succeeded", bad)
		}
	}
}

func TestSet(t *testing.T) {
	inj := New(nil)
	if err := inj.Set("disk", Error); err == nil {
		t.Fatal("Set accepted an unknown target")
	}
	if err := inj.Set(TargetStore, Corrupt); err == nil {
		t.Fatal("Set accepted corrupt for the mailbox store")
	}
	if err := inj.Set(TargetBlob, Fault(42)); err == nil {
		t.Fatal("Set accepted an unknown fault")
	}
	if err := inj.Set(TargetBlob, Corrupt); err != nil {
		t.Fatal(err)
	}
	if err := inj.Set(TargetStore, NoSpace); err != nil {
		t.Fatal(err)
	}
	state := inj.State()
	if state[TargetBlob] != Corrupt || state[TargetStore] != NoSpace || len(state) != 2 {
		t.Fatalf("State = %v", state)
	}
	js, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	if string(js) != `{"blob":"corrupt","store":"nospace"}` {
		t.Fatalf("state as JSON = %s", js)
	}
	if err := inj.Set(TargetBlob, None); err != nil {
		t.Fatal(err)
	}
	if inj.Current(TargetBlob) != None || inj.Current(TargetStore) != NoSpace {
		t.Fatalf("after clearing blob: %v", inj.State())
	}
	inj.Clear()
	if s := inj.State(); s[TargetBlob] != None || s[TargetStore] != None {
		t.Fatalf("after Clear: %v", s)
	}
}
