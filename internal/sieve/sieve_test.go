package sieve

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// summary renders actions compactly for table tests.
func summary(res *Result) string {
	var out []string
	for _, a := range res.Actions {
		switch a := a.(type) {
		case Keep:
			s := "keep"
			if a.Implicit {
				s = "implicit-keep"
			}
			if len(a.Flags) > 0 {
				s += "[" + strings.Join(a.Flags, " ") + "]"
			}
			out = append(out, s)
		case FileInto:
			s := "fileinto:" + a.Mailbox
			if len(a.Flags) > 0 {
				s += "[" + strings.Join(a.Flags, " ") + "]"
			}
			if a.Create {
				s += "+create"
			}
			out = append(out, s)
		case Redirect:
			out = append(out, "redirect:"+a.Address)
		case Reject:
			out = append(out, fmt.Sprintf("reject(%t):%s", a.Extended, a.Reason))
		case Vacation:
			out = append(out, fmt.Sprintf("vacation:%s:%s:%s", a.To, a.Subject, a.Period))
		case Notify:
			out = append(out, "notify:"+a.Method+":"+a.Message)
		case AddHeader:
			out = append(out, fmt.Sprintf("addheader:%s:%s:%t", a.Name, a.Value, a.Last))
		case DeleteHeader:
			out = append(out, fmt.Sprintf("deleteheader:%s:%v", a.Name, a.Occurrences))
		case TrackDuplicate:
			out = append(out, "track:"+a.Period.String())
		case Discard:
			out = append(out, "discard")
		}
	}
	if res.Err != nil {
		out = append(out, "error")
	}
	return strings.Join(out, " ")
}

// The message of RFC 5228 section 5.7 (the address and header examples),
// with a few more fields the other RFCs' examples look at.
const rfcMessage = "Date: Tue, 1 Apr 1997 09:06:31 -0800 (PST)\r\n" +
	"From: coyote@desert.example.org\r\n" +
	"To: roadrunner@acme.example.com\r\n" +
	"Cc: \"Ken Murchison\" <ken+sieve@example.org>\r\n" +
	"Subject: I have a present for you\r\n" +
	"Message-ID: <1234@desert.example.org>\r\n" +
	"X-Caffeine: C8H10N4O2\r\n" +
	"Received: from a by b; Tue, 1 Apr 1997 10:00:00 -0800\r\n" +
	"Received: from c by d; Tue, 1 Apr 1997 09:30:00 -0800\r\n" +
	"\r\n" +
	"Look, I'm sorry about the whole anvil thing, and I really\r\n" +
	"didn't mean to try and drop it on you from the top of the\r\n" +
	"cliff.  I want to try to make it up to you.  I've got some\r\n" +
	"great birdseed over here at my place--top of the line\r\n" +
	"stuff--and if you come by, I'll have it all wrapped\r\n" +
	"up for you.  I'm really sorry for all the problems I've caused.\r\n"

var rfcEnvelope = Envelope{From: "coyote@desert.example.org", To: "roadrunner+work@acme.example.com"}

type runCase struct {
	name   string
	script string
	msg    string // rfcMessage when empty
	env    *Envelope
	want   string
}

func runCases(t *testing.T, cases []runCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Compile(c.script)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			msg := c.msg
			if msg == "" {
				msg = rfcMessage
			}
			env := rfcEnvelope
			if c.env != nil {
				env = *c.env
			}
			in := &Input{
				Message:       []byte(msg),
				Envelope:      env,
				Now:           time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC),
				Addresses:     []string{"roadrunner@acme.example.com"},
				MailboxExists: func(m string) bool { return m == "INBOX" || m == "Junk" },
				Seen:          func(key string) bool { return key == duplicateKey("", "<seen@example.org>") },
				Include: func(global bool, name string) (*Script, error) {
					src, ok := includes[fmt.Sprintf("%t/%s", global, name)]
					if !ok {
						return nil, ErrNoScript
					}
					return Compile(src)
				},
			}
			res := Run(s, in)
			if got := summary(res); got != c.want {
				t.Errorf("got  %q\nwant %q (err %v)", got, c.want, res.Err)
			}
		})
	}
}

var includes = map[string]string{
	"false/spam":     "require \"fileinto\"; if header :contains \"subject\" \"present\" { fileinto \"Junk\"; }",
	"true/always":    "require [\"variables\", \"include\"]; global \"test\"; set \"test\" \"${test}x\";",
	"false/loop":     "require \"include\"; include \"loop\";",
	"false/ret":      "require \"include\"; return; discard;",
	"false/stopping": "stop;",
}

func TestCore(t *testing.T) {
	runCases(t, []runCase{
		{"empty", "", "", nil, "implicit-keep"},
		{"keep", "keep;", "", nil, "keep"},
		{"discard", "discard;", "", nil, ""},
		{"stop", "stop; discard;", "", nil, "implicit-keep"},
		// RFC 5228 section 2.10.1: discard then keep: kept.
		{"discard keep", "discard; keep;", "", nil, "keep"},
		{"fileinto twice", "require \"fileinto\"; fileinto \"a\"; fileinto \"a\";", "", nil, "fileinto:a"},
		{"fileinto inbox and keep", "require \"fileinto\"; fileinto \"inbox\"; keep;", "", nil, "fileinto:INBOX keep"},
		{"redirect", "redirect \"bart@example.com\";", "", nil, "redirect:bart@example.com"},
		{"redirect twice once", "redirect \"a@example.com\"; redirect \"A@example.com\";", "", nil, "redirect:a@example.com"},
		{"too many redirects", "redirect \"a@x.org\"; redirect \"b@x.org\"; redirect \"c@x.org\"; redirect \"d@x.org\"; redirect \"e@x.org\";", "", nil, "implicit-keep error"},
		// RFC 5228 section 3.1 example.
		{"if elsif else", `require "fileinto";
if header :contains "from" "coyote" {
   discard;
} elsif header :contains ["subject"] ["$$$"] {
   discard;
} else {
   fileinto "INBOX";
}`, "", nil, ""},
		{"else branch", `require "fileinto";
if header :contains "from" "elmer" { discard; }
elsif header :contains ["subject"] ["$$$"] { discard; }
else { fileinto "INBOX"; }`, "", nil, "fileinto:INBOX"},
		// RFC 5228 section 5.1.
		{"address all", `if address :is :all "from" "coyote@desert.example.org" { discard; }`, "", nil, ""},
		{"address domain", `if address :domain :is ["From", "To"] "example.com" { keep; }`, "", nil, "implicit-keep"},
		{"address domain ok", `if address :domain :is ["From", "To"] "acme.example.com" { redirect "x@y.org"; }`, "", nil, "redirect:x@y.org"},
		{"address localpart", `if address :localpart :is "from" "coyote" { discard; }`, "", nil, ""},
		{"address only in address fields", `require "variables"; set "h" "subject"; if address :contains "${h}" "present" { discard; }`, "", nil, "implicit-keep"},
		{"address display name ignored", `if address :contains "cc" "Murchison" { discard; }`, "", nil, "implicit-keep"},
		// RFC 5228 section 5.4.
		{"envelope", `require "envelope"; if envelope :all :is "from" "coyote@desert.example.org" { discard; }`, "", nil, ""},
		{"envelope to domain", `require "envelope"; if envelope :domain :is "to" "acme.example.com" { discard; }`, "", nil, ""},
		{"envelope null sender", `require "envelope"; if envelope :is "from" "" { discard; }`, "", &Envelope{To: "a@b.c"}, ""},
		// RFC 5228 section 5.5.
		{"exists", `if exists ["From","Date"] { discard; }`, "", nil, ""},
		{"exists missing", `if exists ["From","X-Nope"] { discard; }`, "", nil, "implicit-keep"},
		// RFC 5228 section 5.7.
		{"header contains", `if header :contains ["From"] ["coyote"] { discard; }`, "", nil, ""},
		{"header is casemap", `if header :is "X-Caffeine" "c8h10n4o2" { discard; }`, "", nil, ""},
		{"header is octet", `if header :is :comparator "i;octet" "X-Caffeine" "c8h10n4o2" { discard; }`, "", nil, "implicit-keep"},
		{"header matches", `if header :matches "Subject" "I * a ??esent*" { discard; }`, "", nil, ""},
		{"header matches escaped", `if header :matches "Subject" "I have\\*" { discard; }`, "", nil, "implicit-keep"},
		// RFC 5228 section 5.9.
		{"size over", `if size :over 100K { discard; }`, "", nil, "implicit-keep"},
		{"size under", `if size :under 1M { discard; }`, "", nil, ""},
		{"not allof anyof", `if not allof (true, anyof (false, exists "X-Nope")) { discard; }`, "", nil, ""},
		{"numeric", `require "comparator-i;ascii-numeric"; if header :is :comparator "i;ascii-numeric" "X-Num" "007" { discard; }`, "X-Num: 7abc\r\n\r\n", nil, ""},
		// RFC 5228 section 9 example, the parts that apply.
		{"rfc 5228 section 9", `require "fileinto";
if header :is "Sender" "owner-ietf-mta-filters@imc.org" {
        fileinto "filter";  # move to "filter" mailbox
} elsif address :DOMAIN :is ["From", "To"] "example.com" {
        keep;               # keep in "In" mailbox
} elsif anyof (NOT address :all :contains ["To", "Cc", "Bcc"] "me@example.com",
               header :matches "subject" ["*make*money*fast*", "*university*dipl*mas*"]) {
        fileinto "spam";   # move to "spam" mailbox
} else {
        fileinto "personal";
}`, "", nil, "fileinto:spam"},
	})
}

func TestExtensions(t *testing.T) {
	runCases(t, []runCase{
		// RFC 3894 section 4.
		{"copy", `require ["copy", "fileinto"]; fileinto :copy "incoming"; redirect :copy "a@b.org";`, "", nil, "fileinto:incoming redirect:a@b.org implicit-keep"},
		// RFC 5173 section 7.
		{"body raw", `require "body"; if body :raw :contains "MAKE MONEY FAST" { discard; }`, "", nil, "implicit-keep"},
		{"body text", `require "body"; if body :text :contains "birdseed" { discard; }`, "", nil, ""},
		{"body content", `require ["body", "fileinto"];
if body :content "text" :contains ["missile", "coordinates"] { fileinto "secrets"; }`,
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nbWlzc2lsZQ==\r\n--b--\r\n", nil, "fileinto:secrets"},
		{"body content other type", `require "body"; if body :content "image" :contains "missile" { discard; }`,
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nmissile\r\n--b--\r\n", nil, "implicit-keep"},
		// RFC 5231 section 6.
		{"relational count", `require ["relational", "comparator-i;ascii-numeric"];
if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["2"] { discard; }`, "", nil, ""},
		{"relational value", `require ["relational", "comparator-i;ascii-numeric"];
if header :value "lt" :comparator "i;ascii-numeric" ["x-priority"] ["3"] { discard; }`, "X-Priority: 1\r\n\r\n", nil, ""},
		{"relational value gt casemap", `require "relational"; if header :value "gt" "subject" "h" { discard; }`, "", nil, ""},
		{"relational count received", `require ["relational", "comparator-i;ascii-numeric"];
if header :count "gt" :comparator "i;ascii-numeric" "received" "1" { discard; }`, "", nil, ""},
		// RFC 5233 section 5.
		{"subaddress detail", `require ["envelope", "subaddress", "fileinto"];
if envelope :detail "to" "work" { fileinto "work"; }`, "", nil, "fileinto:work"},
		{"subaddress user", `require ["envelope", "subaddress"]; if envelope :user "to" "roadrunner" { discard; }`, "", nil, ""},
		{"subaddress header detail", `require ["subaddress"]; if address :detail "cc" "sieve" { discard; }`, "", nil, ""},
		{"subaddress no detail", `require ["subaddress"]; if address :detail :matches "from" "*" { discard; }`, "", nil, "implicit-keep"},
		// RFC 5230 section 4.
		{"vacation", `require "vacation"; vacation :days 23 :addresses ["tjs@example.edu"] "I'm away";`, "", nil,
			"vacation:coyote@desert.example.org:Auto: I have a present for you:552h0m0s implicit-keep"},
		{"vacation seconds", `require ["vacation", "vacation-seconds"]; vacation :seconds 1800 :subject "Away" "x";`, "", nil,
			"vacation:coyote@desert.example.org:Away:30m0s implicit-keep"},
		{"vacation not to me", `require "vacation"; vacation "x";`, "To: other@example.org\r\n\r\n", nil, "implicit-keep"},
		{"vacation list", `require "vacation"; vacation "x";`, "To: roadrunner@acme.example.com\r\nList-Id: <l.example.org>\r\n\r\n", nil, "implicit-keep"},
		{"vacation auto-submitted", `require "vacation"; vacation "x";`, "To: roadrunner@acme.example.com\r\nAuto-Submitted: auto-replied\r\n\r\n", nil, "implicit-keep"},
		{"vacation null sender", `require "vacation"; vacation "x";`, "", &Envelope{To: "roadrunner@acme.example.com"}, "implicit-keep"},
		{"vacation mailer-daemon", `require "vacation"; vacation "x";`, "", &Envelope{From: "MAILER-DAEMON@x.org", To: "roadrunner@acme.example.com"}, "implicit-keep"},
		// RFC 5229 section 3.2 and 4.
		{"variables matches", `require ["fileinto", "variables"];
if header :matches "Subject" "I * a *" { fileinto "INBOX.${1}.${2}"; }`, "", nil, "fileinto:INBOX.have.present for you"},
		{"variables shortest", `require ["variables", "fileinto"];
if header :matches "Subject" "[*] *" { fileinto "${1}/${2}"; }`, "Subject: [acme-users] [fwd] version 1.0 is out\r\n\r\n", nil, "fileinto:acme-users/[fwd] version 1.0 is out"},
		{"variables set modifiers", `require ["variables", "fileinto"];
set "a" "juMBlEd lETteRS";
set :length "b" "${a}";
set :lower "c" "${a}";
set :upperfirst "d" "${a}";
set :upperfirst :lower "e" "${a}";
set :quotewildcard "f" "Rock*";
fileinto "${b}|${c}|${d}|${e}|${f}";`, "", nil, "fileinto:15|jumbled letters|JuMBlEd lETteRS|Jumbled letters|Rock\\*"},
		{"variables string", `require ["variables"]; set "x" "abc"; if string :is "${x}" "abc" { discard; }`, "", nil, ""},
		{"variables unknown", `require ["variables", "fileinto"]; fileinto "a${nope}b${1}";`, "", nil, "fileinto:ab"},
		{"variables not required", `require ["fileinto"]; fileinto "a${x}";`, "", nil, "fileinto:a${x}"},
		{"variables count empty", `require ["variables", "relational"]; if string :count "eq" ["", "a"] "1" { discard; }`, "", nil, ""},
		// RFC 5232 section 6 example.
		{"imap4flags", `require ["imap4flags", "fileinto"];
if header :contains "from" "coyote" {
  setflag "\\Flagged";
  addflag ["\\Seen", "$Work"];
  removeflag "\\seen";
  fileinto "Coyote";
}`, "", nil, "fileinto:Coyote[\\Flagged $Work]"},
		{"imap4flags implicit keep", `require "imap4flags"; addflag "\\Seen";`, "", nil, "implicit-keep[\\Seen]"},
		{"imap4flags :flags", `require ["imap4flags", "fileinto"]; addflag "a"; fileinto :flags "b c" "x"; keep;`, "", nil, "fileinto:x[b c] keep[a]"},
		{"imap4flags hasflag", `require ["imap4flags", "variables"]; setflag "v" "\\Seen x"; if hasflag "v" "x" { discard; }`, "", nil, ""},
		{"imap4flags hasflag internal", `require ["imap4flags"]; addflag "\\Deleted"; if hasflag :is "\\deleted" { discard; }`, "", nil, ""},
		// RFC 5260 section 4 and 6.
		{"date", `require "date"; if date :is "date" "year" "1997" { discard; }`, "", nil, ""},
		{"date originalzone", `require ["date", "relational"];
if date :originalzone :value "ge" "date" "hour" "09" { discard; }`, "", nil, ""},
		{"date zone", `require "date"; if date :zone "+0000" "date" "hour" "17" { discard; }`, "", nil, ""},
		{"date received index", `require ["date", "index"]; if date :index 1 :last :zone "-0800" "received" "time" "09:30:00" { discard; }`, "", nil, ""},
		{"currentdate", `require ["date", "relational"];
if allof(currentdate :value "ge" "date" "2026-01-01", currentdate :value "le" "date" "2026-12-31") { discard; }`, "", nil, ""},
		{"currentdate weekday", `require "date"; if currentdate :zone "+0000" "weekday" "3" { discard; }`, "", nil, ""},
		{"index header", `require "index"; if header :index 2 :matches "received" "from c*" { discard; }`, "", nil, ""},
		// RFC 5429 section 2.
		{"reject", `require "reject"; if header :contains "from" "coyote" { reject "I don't want your mail"; }`, "", nil, "reject(false):I don't want your mail"},
		{"ereject", `require "ereject"; ereject "no";`, "", nil, "reject(true):no"},
		{"reject after keep", `require "reject"; keep; reject "no";`, "", nil, "implicit-keep error"},
		// RFC 5293 section 8.
		{"editheader", `require ["editheader"];
addheader "X-Source" "Sieve";
addheader :last "X-Last" "yes";
if header :is "x-source" "sieve" { deleteheader "X-Caffeine"; }
deleteheader :index 1 :last "received";`, "", nil, "addheader:X-Source:Sieve:false addheader:X-Last:yes:true deleteheader:x-caffeine:[1] implicit-keep"},
		{"editheader value", `require ["editheader"]; deleteheader :contains "subject" "present";`, "", nil, "deleteheader:subject:[1] implicit-keep"},
		// RFC 5490 section 3.
		{"mailbox", `require ["mailbox", "fileinto"]; if mailboxexists "Junk" { fileinto :create "Spam"; }`, "", nil, "fileinto:Spam+create"},
		{"mailbox missing", `require ["mailbox", "fileinto"]; if mailboxexists ["Junk", "Nope"] { discard; }`, "", nil, "implicit-keep"},
		// RFC 6609 section 4.
		{"include", `require "include"; include :personal "spam";`, "", nil, "fileinto:Junk"},
		{"include optional", `require "include"; include :optional "nope";`, "", nil, "implicit-keep"},
		{"include missing", `require "include"; include "nope";`, "", nil, "implicit-keep error"},
		{"include loop", `require "include"; include "loop";`, "", nil, "implicit-keep error"},
		{"include return", `require "include"; include "ret"; keep;`, "", nil, "keep"},
		{"include stop", `require "include"; include "stopping"; discard;`, "", nil, "implicit-keep"},
		{"include global", `require ["include", "variables", "fileinto"]; global "test";
set "test" "a"; include :global "always"; include :global :once "always"; include :global "always"; fileinto "${test}";`, "", nil, "fileinto:axx"},
		// RFC 7352 section 3.
		{"duplicate new", `require "duplicate"; if duplicate { discard; }`, "", nil, "track:168h0m0s implicit-keep"},
		{"duplicate seen", `require "duplicate"; if duplicate { discard; }`, "Message-ID: <seen@example.org>\r\n\r\n", nil, ""},
		{"duplicate last", `require "duplicate"; if duplicate :seconds 60 :last { discard; }`, "Message-ID: <seen@example.org>\r\n\r\n", nil, "track:1m0s"},
		// RFC 5435 section 9.
		{"enotify", `require ["enotify", "variables"];
if header :contains "from" "coyote" {
  notify :importance "1" :message "This is probably very important" "mailto:alm@example.com";
}`, "", nil, "notify:mailto:alm@example.com:This is probably very important implicit-keep"},
		{"enotify bad method", `require "enotify"; notify "xmpp:a@b";`, "", nil, "implicit-keep error"},
		{"valid_notify_method", `require "enotify"; if valid_notify_method "mailto:a@b.org" { discard; }`, "", nil, ""},
		{"notify_method_capability", `require "enotify"; if notify_method_capability "mailto:a@b.org" "online" "maybe" { discard; }`, "", nil, ""},
		// RFC 5228 section 2.4.2.4.
		{"encoded-character", `require ["encoded-character", "fileinto"]; fileinto "${hex: 40 41}${unicode:263a}${hex:zz}";`, "", nil, "fileinto:@A☺${hex:zz}"},
	})
}

func TestLimits(t *testing.T) {
	s, err := Compile(`require ["variables", "editheader"]; addheader "X-A" "1"; addheader "X-B" "2"; addheader "X-C" "3";`)
	if err != nil {
		t.Fatal(err)
	}
	res := Run(s, &Input{Message: []byte(rfcMessage), Limits: Limits{HeaderEdits: 2}})
	if res.Err == nil || summary(res) != "implicit-keep error" {
		t.Errorf("header edits: %s %v", summary(res), res.Err)
	}
	big := strings.Repeat(`if header :matches "subject" "*a*b*c*d*e*f*g*" { keep; }`+"\n", 2000)
	s, err = Compile(big)
	if err != nil {
		t.Fatal(err)
	}
	res = Run(s, &Input{Message: []byte("Subject: " + strings.Repeat("a", 10000) + "\r\n\r\n"), Limits: Limits{Steps: 5000}})
	if res.Err == nil {
		t.Errorf("steps: no error")
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"keep", "line 1, column 5"},
		{"fileinto \"x\";", "needs require \"fileinto\""},
		{"require \"nope\";", "unsupported extension"},
		{"keep;\nrequire \"fileinto\";", "line 2, column 1: require must come before"},
		{"if true {\n  discard;\n", "line 3"},
		{"if true { discard; }\nelse;", "else needs a block"},
		{"else { keep; }", "else without if"},
		{"if header :is :contains \"a\" \"b\" { keep; }", ":contains cannot be used with :is"},
		{"if header :comparator \"i;nope\" \"a\" \"b\" { keep; }", "unknown comparator"},
		{"if size 100 { keep; }", "size needs :over or :under"},
		{"redirect \"not an address\";", "bad redirect address"},
		{"require \"variables\"; set \"1a\" \"x\";", "bad variable name"},
		{"keep :flags \"x\";", "needs require \"imap4flags\""},
		{"if header :value \"gt\" \"a\" \"b\" { keep; }", "needs require \"relational\""},
		{"\"x\";", "expected a command"},
		{"keep; /* open", "unterminated comment"},
		{"redirect \"a", "unterminated string"},
		{"if size :over 99999999999 { keep; }", "too large"},
		{"discard \"x\";", "takes 0 arguments"},
		{"if header \"a\" { keep; }", "takes 2 arguments"},
		{"require \"date\"; if date \"date\" \"century\" \"x\" { keep; }", "unknown date part"},
		{"if address \"subject\" \"x\" { keep; }", "does not hold addresses"},
		{"require [\"imap4flags\",\"fileinto\"]; fileinto :flags \"a\" :flags \"b\" \"x\";", "given twice"},
		{"require \"encoded-character\"; keep :x;", "keep has no tag :x"},
		{"require \"encoded-character\"; redirect \"${unicode:D800}@x.org\";", "invalid unicode"},
	} {
		_, err := Compile(c.src)
		var se *Error
		if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%q) = %v, want error with %q", c.src, err, c.want)
		}
	}
}

func TestMultiline(t *testing.T) {
	s, err := Compile("require \"vacation\";\nvacation :days 1 text:\nI am away.\n..and back soon\n.\n;")
	if err != nil {
		t.Fatal(err)
	}
	res := Run(s, &Input{Message: []byte(rfcMessage), Envelope: rfcEnvelope, Addresses: []string{"roadrunner@acme.example.com"}})
	v, ok := res.Actions[0].(Vacation)
	if !ok || v.Reason != "I am away.\n.and back soon\n" {
		t.Errorf("got %#v", res.Actions)
	}
}

func TestWildmatch(t *testing.T) {
	for _, c := range []struct {
		pat, val string
		ok       bool
		caps     string
	}{
		{"*", "", true, "|"},
		{"a*b", "axxb", true, "axxb|xx"},
		{"*<*@*", "Lists <l@example.org>", true, "Lists <l@example.org>|Lists |l|example.org>"},
		{"?", "é", true, "é|é"},
		{"a?c", "abbc", false, ""},
		{"\\?", "?", true, "?"},
		{"*a*a*a*a*a*a*b", strings.Repeat("a", 200), false, ""},
	} {
		caps, ok := wildmatch(c.pat, c.val, c.val)
		if ok != c.ok || ok && strings.Join(caps, "|") != c.caps {
			t.Errorf("wildmatch(%q, %q) = %q %t, want %q %t", c.pat, c.val, caps, ok, c.caps, c.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"require [\"fileinto\"]; if header :contains \"subject\" \"x\" { fileinto \"a\"; } else { keep; }",
		"text:\nx\n.\n",
		"if anyof(not true, size :over 1K) { stop; }",
		"/* c */ # x\nkeep;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Compile(src)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		Run(s, &Input{Message: []byte(rfcMessage), Envelope: rfcEnvelope, Limits: Limits{Steps: 1000}})
	})
}

// BenchmarkRun runs a 50-rule script of 250 tests, none of which matches,
// on the RFC 5228 example message: the interpreter's cost per delivery.
func BenchmarkRun(b *testing.B) {
	var src strings.Builder
	src.WriteString(`require ["fileinto", "imap4flags", "envelope", "body"];` + "\n")
	for i := range 50 {
		fmt.Fprintf(&src, "if anyof (header :contains \"subject\" \"project-%d\", address :domain :is \"from\" \"l%d.example\", header :matches \"list-id\" \"*<t%d.*>*\", envelope :is \"from\" \"r%d@x.net\", body :text :contains \"unsubscribe-%d\") { fileinto \"F%d\"; }\n", i, i, i, i, i, i)
	}
	s, err := Compile(src.String())
	if err != nil {
		b.Fatal(err)
	}
	in := &Input{Message: []byte(rfcMessage), Envelope: rfcEnvelope}
	b.ReportAllocs()
	for b.Loop() {
		if res := Run(s, in); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

func TestVacationText(t *testing.T) {
	s, err := Compile(`require ["vacation", "date", "relational"];
if currentdate :value "ge" "date" "2026-01-01" { vacation :days 2 :subject "Out" "Back on Monday."; }`)
	if err != nil {
		t.Fatal(err)
	}
	if subj, reason, ok := s.VacationText(); !ok || subj != "Out" || reason != "Back on Monday." || !s.Requires("vacation") || s.Requires("fileinto") {
		t.Errorf("got %q %q %v", subj, reason, ok)
	}
	s, _ = Compile(`keep;`)
	if _, _, ok := s.VacationText(); ok {
		t.Error("a script without vacation has one")
	}
}
