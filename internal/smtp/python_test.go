package smtp

import (
	"os/exec"
	"strings"
	"testing"
)

// pythonClient is a script for Python's smtplib, an independent client
// implementation. It prints one line per step: the reply code or the
// exception class.
const pythonClient = `
import smtplib, ssl, sys
mx, sub, subs = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
msg = b"From: p@remote.test\r\nSubject: py\r\n\r\nfrom python\r\n"

def hp(a):
    h, p = a.rsplit(":", 1)
    return h, int(p)

def step(name, f):
    try:
        f()
        print(name, "ok")
    except smtplib.SMTPRecipientsRefused as e:
        print(name, list(e.recipients.values())[0][0])
    except smtplib.SMTPResponseException as e:
        print(name, e.smtp_code)
    except Exception as e:
        print(name, type(e).__name__)

def mx_plain():
    with smtplib.SMTP(*hp(mx)) as s:
        s.sendmail("p@remote.test", ["alice@example.test"], msg)

def mx_utf8():
    with smtplib.SMTP(*hp(mx)) as s:
        s.ehlo()
        s.sendmail("p@remote.test", ["üser@example.test"], msg, mail_options=["SMTPUTF8"])

def mx_unknown():
    with smtplib.SMTP(*hp(mx)) as s:
        s.sendmail("p@remote.test", ["nobody@example.test"], msg)

def mx_relay():
    with smtplib.SMTP(*hp(mx)) as s:
        s.sendmail("p@remote.test", ["x@elsewhere.test"], msg)

def sub_plain():
    with smtplib.SMTP(*hp(sub)) as s:
        s.starttls(context=ctx)
        s.login("alice@example.test", "alice-pw")
        s.sendmail("alice@example.test", ["bob@example.test"], msg)

def sub_login_full():
    with smtplib.SMTP(*hp(sub)) as s:
        s.starttls(context=ctx)
        s.ehlo()
        s.user, s.password = "bob@example.test", "bob-pw"
        s.auth("LOGIN", s.auth_login)
        s.sendmail("bob@example.test", ["alice@example.test"], msg)

def sub_no_tls():
    with smtplib.SMTP(*hp(sub)) as s:
        s.ehlo()
        code, _ = s.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==")
        raise smtplib.SMTPResponseException(code, "")

def sub_wrong():
    with smtplib.SMTP(*hp(sub)) as s:
        s.starttls(context=ctx)
        s.login("alice@example.test", "nope")

def sub_not_owned():
    with smtplib.SMTP(*hp(sub)) as s:
        s.starttls(context=ctx)
        s.login("alice@example.test", "alice-pw")
        s.sendmail("bob@example.test", ["bob@example.test"], msg)

def subs_plain():
    with smtplib.SMTP_SSL(*hp(subs), context=ctx) as s:
        s.login("alice@example.test", "alice-pw")
        s.sendmail("alice@example.test", ["friend@remote.test"], msg)

for name, f in [("mx_plain", mx_plain), ("mx_utf8", mx_utf8), ("mx_unknown", mx_unknown), ("mx_relay", mx_relay),
                ("sub_plain", sub_plain), ("sub_login_full", sub_login_full), ("sub_no_tls", sub_no_tls),
                ("sub_wrong", sub_wrong), ("sub_not_owned", sub_not_owned), ("subs_plain", subs_plain)]:
    step(name, f)
`

func TestPythonSmtplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := newTestEnv(t, nil)
	out, err := exec.Command(py, "-c", pythonClient, e.mx, e.submission, e.submissions).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	want := map[string]string{
		"mx_plain":       "ok",
		"mx_utf8":        "ok",
		"mx_unknown":     "550",
		"mx_relay":       "550",
		"sub_plain":      "ok",
		"sub_login_full": "ok",
		"sub_no_tls":     "538",
		"sub_wrong":      "535",
		"sub_not_owned":  "553",
		"subs_plain":     "ok",
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			got[f[0]] = f[1]
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if t.Failed() {
		t.Logf("python output:\n%s", out)
	}
	if n, m := len(e.spool.all()), len(e.outbound.all()); n != 4 || m != 1 {
		t.Errorf("%d local and %d outbound messages, want 4 and 1", n, m)
	}
}
