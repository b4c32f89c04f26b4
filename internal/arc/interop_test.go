package arc_test

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"strings"
	"testing"

	"casella/internal/arc"
)

// dkimpyScript drives dkimpy (Debian's python3-dkim), an independent ARC
// implementation: "verify" prints its cv for the message on stdin, with
// the key records given as name=record arguments in place of DNS; "sign"
// prints the message sealed with the key in key=FILE, its cv taken from
// the message's Authentication-Results, as dkimpy does.
const dkimpyScript = `
import sys, dkim
mode, args = sys.argv[1], sys.argv[2:]
records = dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("key="))
def dnsfunc(name, timeout=5):
    return records.get(name.decode().rstrip("."), "").encode()
msg = sys.stdin.buffer.read()
if mode == "verify":
    cv, results, comment = dkim.arc_verify(msg, dnsfunc=dnsfunc)
    print(cv.decode(), comment)
else:
    key = open([a for a in args if a.startswith("key=")][0][4:], "rb").read()
    lines = dkim.arc_sign(msg, b"arc-rsa", b"dkimpy.test", key, b"mx.dkimpy.test")
    sys.stdout.buffer.write(b"".join(lines) + msg)
`

// python returns a Python that has dkimpy, skipping the test without one
// outside CI.
func python(t *testing.T) string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import dkim, authres; dkim.arc_sign").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("dkimpy (Debian's python3-dkim and python3-authres) is missing; .ci/run installs them")
	}
	t.Skip("dkimpy is not installed: apt-get install python3-dkim python3-authres")
	return ""
}

func runDkimpy(t *testing.T, py string, msg []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command(py, append([]string{"-c", dkimpyScript}, args...)...)
	cmd.Stdin = bytes.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy %s: %v\n%s", args[0], err, stderr.String())
	}
	return string(out)
}

// TestInterop checks chains both ways with dkimpy: ours verified by it,
// one it extends verified by us.
func TestInterop(t *testing.T) {
	py := python(t)
	h := newHops(t, "fwd.test", "list.test", "dkimpy.test")
	var records []string
	for d, s := range h.sealers {
		txts, err := h.lookup(s.Selector + "._domainkey." + d)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, s.Selector+"._domainkey."+d+"="+strings.Join(txts, ""))
	}

	msg := h.pass(t, "list.test", h.pass(t, "fwd.test", []byte(original)))
	if out := runDkimpy(t, py, msg, append([]string{"verify"}, records...)...); !strings.HasPrefix(out, "pass") {
		t.Fatalf("dkimpy on our chain: %s\n%s", out, msg)
	}
	tampered := bytes.Replace(msg, []byte("is ready"), []byte("is overdue"), 1)
	if out := runDkimpy(t, py, tampered, append([]string{"verify"}, records...)...); !strings.HasPrefix(out, "fail") {
		t.Fatalf("dkimpy on a tampered chain: %s", out)
	}

	// dkimpy seals a third set over our two, from the Authentication-Results
	// its server wrote.
	keyFile := t.TempDir() + "/key.pem"
	der := x509.MarshalPKCS1PrivateKey(h.sealers["dkimpy.test"].Key.(*rsa.PrivateKey))
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	withAR := append([]byte("Authentication-Results: mx.dkimpy.test; arc=pass\r\n"), msg...)
	sealed := runDkimpy(t, py, withAR, append([]string{"sign", "key=" + keyFile}, records...)...)
	v := arc.Verify([]byte(sealed), h.lookup)
	if v.Result != arc.Pass || v.Instances != 3 || v.Sealer != "dkimpy.test" {
		t.Fatalf("our verdict on dkimpy's seal: %+v\n%s", v, sealed)
	}
}
