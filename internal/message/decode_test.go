package message

import (
	"errors"
	"testing"
)

func TestDecodeBody(t *testing.T) {
	for _, tc := range []struct{ enc, body, want string }{
		{"", "as is\r\n", "as is\r\n"},
		{"8bit", "é", "é"},
		{"quoted-printable", "a=3Db=\r\nc  \r\nd=ZZ=\n", "a=bc\r\nd=ZZ"},
		{"quoted-printable", "soft at end=", "soft at end"},
		{"base64", "aGVs\r\nbG8=\r\n", "hello"},
		{"base64", "aGVsbG8", "hello"},
		{"base64", "a!G*V sbG8h", "hello!"},
	} {
		raw := []byte("X: y\r\n\r\n" + tc.body)
		p := &Part{BodyStart: 8, BodyEnd: int64(len(raw)), Encoding: tc.enc}
		got, err := DecodeBody(raw, p)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s %q: got %q, %v; want %q", tc.enc, tc.body, got, err, tc.want)
		}
	}
}

func TestDecodeBodyErrors(t *testing.T) {
	raw := []byte("abc")
	if _, err := DecodeBody(raw, &Part{Encoding: "x-uuencode", BodyEnd: 3}); !errors.Is(err, ErrUnknownEncoding) {
		t.Errorf("unknown encoding: err = %v", err)
	}
	if _, err := DecodeBody(raw, &Part{BodyStart: 2, BodyEnd: 9}); err == nil {
		t.Error("offsets beyond the message: no error")
	}
}
