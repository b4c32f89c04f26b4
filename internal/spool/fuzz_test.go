package spool

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// encodeEntry returns the bytes of an entry file, as Enqueue writes them.
func encodeEntry(env Envelope, data []byte) ([]byte, error) {
	head, err := encodeHead(env, data)
	return append(head, data...), err
}

func FuzzDecodeEntry(f *testing.F) {
	env := Envelope{From: "a@example.org", Recipients: []Recipient{{Address: "b@example.com", Account: 3, Tag: "x"}}, Received: time.Unix(1700000000, 0).UTC()}
	good, err := encodeEntry(env, []byte("Subject: hi\r\n\r\nbody\r\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte("CSPOOL1 2 0 " + string(bytes.Repeat([]byte("00"), 32)) + "\n{}"))
	f.Add([]byte("CSPOOL1 -1 99999999999999999999 zz\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		env, data, err := decodeEntry(b)
		henv, h, herr := readEnvelope(bytes.NewReader(b))
		if err != nil {
			return
		}
		// What the whole read accepts, the envelope-only read accepts too
		// and agrees with.
		if herr != nil || h.dataLen != int64(len(data)) || len(henv.Recipients) != len(env.Recipients) {
			t.Fatalf("readEnvelope = %v, %+v; decodeEntry found %d bytes", herr, h, len(data))
		}
		again, err := encodeEntry(env, data)
		if err != nil {
			t.Fatal(err)
		}
		env2, data2, err := decodeEntry(again)
		if err != nil || !bytes.Equal(data2, data) || env2.From != env.From || len(env2.Recipients) != len(env.Recipients) {
			t.Fatalf("re-encoded entry does not decode the same: %v", err)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	e := &Entry{ID: "x", Envelope: Envelope{Recipients: make([]Recipient, 3)}, Attempts: 2, LastError: "down"}
	e.Envelope.Recipients[1].Done = true
	e.Envelope.Recipients[2].Failed = "550 no"
	seed, err := json.Marshal(stateOf(e))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"attempts":2,"next":"2024-01-01T00:00:00Z","done":[false,true],"failed":["","","x"]}`))
	f.Add([]byte(`{"done":[true,true,true,true]}`))
	f.Add([]byte(`{"attempts":-1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e := &Entry{ID: "x", Envelope: Envelope{Recipients: make([]Recipient, 3)}}
		before := e.clone()
		if err := decodeState(b, e); err != nil {
			if e.Attempts != before.Attempts || len(e.Envelope.Recipients) != 3 {
				t.Fatal("failed decode changed the entry")
			}
			for i, r := range e.Envelope.Recipients {
				if r != before.Envelope.Recipients[i] {
					t.Fatal("failed decode changed a recipient")
				}
			}
			return
		}
		if e.Attempts < 0 || len(e.Envelope.Recipients) != 3 {
			t.Fatalf("decoded state %+v", e)
		}
	})
}
