package e2e

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func jsonUnmarshal(s string, v any) error {
	return json.Unmarshal([]byte(strings.TrimSpace(s)), v)
}

func b64decode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
