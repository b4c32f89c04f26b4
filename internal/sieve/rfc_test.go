package sieve

import "testing"

// TestRFCExamples runs the examples of the extensions' RFCs, adapted to
// the test message (rfcMessage) where they look at fields it lacks.
func TestRFCExamples(t *testing.T) {
	bossMsg := "From: boss@example.com\r\nTo: roadrunner@acme.example.com\r\nDate: Mon, 26 Feb 2007 10:00:00 -0800\r\n" +
		"Received: from x by y; Mon, 26 Feb 2007 10:00:05 -0500\r\nSubject: ALERT: disk full\r\nMessage-ID: <a@b>\r\n\r\nx\r\n"
	runCases(t, []runCase{
		// RFC 3894 section 4.
		{"3894", `require ["copy"]; if header :contains "subject" "present" { redirect :copy "sievetest@example.com"; }`, "", nil,
			"redirect:sievetest@example.com implicit-keep"},
		// RFC 5229 section 4.1.
		{"5229 set", `require ["variables", "fileinto"];
set "honorific" "Mr";
set "first_name" "Wile";
set "last_name" "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
if string :matches "${vacation}" "Dear Mr Coyote,*" { fileinto "ok"; }`, "", nil, "fileinto:ok"},
		// RFC 5229 section 3.2.
		{"5229 list-id", `require ["fileinto", "variables"];
if header :matches "List-ID" "*<*@*" { fileinto "INBOX.lists.${2}"; stop; }`,
			"List-ID: Example list <list@example.org>\r\n\r\n", nil, "fileinto:INBOX.lists.list"},
		// RFC 5230 section 4.
		{"5230 subject", `require "vacation";
if header :contains "subject" "cyrus" { vacation "I'm out -- send mail to cyrus-bugs"; }
else { vacation "I'm out -- call me at +1 304 555 0123"; }`, "", nil,
			"vacation:coyote@desert.example.org:Auto: I have a present for you:168h0m0s implicit-keep"},
		{"5230 from", `require "vacation"; vacation :days 7 :from "hemingway@example.com" :subject "Gone fishing" "Gone fishing";`, "", nil,
			"vacation:coyote@desert.example.org:Gone fishing:168h0m0s implicit-keep"},
		{"5230 handle", `require "vacation";
if header :contains "subject" "lunch" { vacation :handle "ran-away" "I'm out and can't meet for lunch"; }
else { vacation :handle "ran-away" "I'm out"; }`, "", nil,
			"vacation:coyote@desert.example.org:Auto: I have a present for you:168h0m0s implicit-keep"},
		{"5230 mime", "require \"vacation\";\nvacation :mime text:\nContent-Type: text/plain; charset=utf-8\n\nAway.\n.\n;", "", nil,
			"vacation:coyote@desert.example.org:Auto: I have a present for you:168h0m0s implicit-keep"},
		// RFC 6131 section 2.
		{"6131", `require ["vacation-seconds"]; vacation :addresses ["tjs@example.edu"] :seconds 0 "x";`, "", nil,
			"vacation:coyote@desert.example.org:Auto: I have a present for you:0s implicit-keep"},
		// RFC 5232 section 6.
		{"5232 hasflag count", `require ["imap4flags", "relational", "comparator-i;ascii-numeric", "fileinto"];
addflag ["\\Flagged", "\\Answered"];
if hasflag :count "ge" :comparator "i;ascii-numeric" "2" { fileinto "INBOX.Spam"; }`, "", nil, "fileinto:INBOX.Spam[\\Flagged \\Answered]"},
		{"5232 variable", `require ["imap4flags", "variables", "fileinto"];
if header :contains "from" "coyote" {
  addflag "MyFlags" "\\Flagged";
  fileinto :flags "${MyFlags}" "INBOX.From.coyote";
}`, "", nil, "fileinto:INBOX.From.coyote[\\Flagged]"},
		// RFC 5260 section 7.
		{"5260 business hours", `require ["date", "relational", "fileinto"];
if allof(header :is "from" "boss@example.com",
         date :value "ge" :originalzone "date" "hour" "09",
         date :value "lt" :originalzone "date" "hour" "17")
{ fileinto "urgent"; }`, bossMsg, nil, "fileinto:urgent"},
		{"5260 received cutoff", `require ["date", "relational", "index"];
if date :value "gt" :index 1 :zone "-0500" "received" "iso8601" "2007-02-26T09:00:00-05:00" { redirect "aftercutoff@example.org"; }`,
			bossMsg, nil, "redirect:aftercutoff@example.org"},
		{"5260 currentdate folder", `require ["date", "variables", "fileinto"];
if currentdate :matches "month" "*" { set "month" "${1}"; }
if currentdate :matches "year"  "*" { set "year" "${1}"; }
fileinto "${month}-${year}";`, "", nil, "fileinto:12-2026"},
		{"5260 julian", `require ["date", "relational"]; if currentdate :value "eq" "julian" "61376" { discard; }`, "", nil, ""},
		// RFC 5293 section 8.
		{"5293 spam score", `require ["editheader", "variables"];
if header :matches "X-Spam-Score" "*" { set "score" "${1}"; }
deleteheader :matches "X-Spam-Score" "*";
addheader :last "X-Spam-Score" "${score}0";
if header :is "x-spam-score" "30" { discard; }`, "X-Spam-Score: 3\r\n\r\n", nil,
			"deleteheader:x-spam-score:[1] addheader:X-Spam-Score:30:true"},
		{"5293 protected", `require ["editheader"]; deleteheader "Received"; addheader "Auto-Submitted" "no";`, "", nil, "implicit-keep"},
		// RFC 5429 section 2.
		{"5429 ereject", `require ["ereject"]; if address :is "from" "coyote@desert.example.org" { ereject "I no longer accept mail from this address"; }`, "", nil,
			"reject(true):I no longer accept mail from this address"},
		// RFC 5490 section 3.
		{"5490", `require ["fileinto", "mailbox"]; if mailboxexists "Junk" { fileinto :create "INBOX.folder"; }`, "", nil, "fileinto:INBOX.folder+create"},
		// RFC 6609 section 4.
		{"6609", `require ["include"]; include :personal "spam"; include :global "always";`, "", nil, "fileinto:Junk"},
		// RFC 7352 section 3.
		{"7352 trash", `require ["duplicate", "fileinto", "mailbox"]; if duplicate { fileinto :create "Trash/Duplicate"; }`,
			"Message-ID: <seen@example.org>\r\n\r\n", nil, "fileinto:Trash/Duplicate+create"},
		{"7352 alert", `require ["duplicate", "variables", "imap4flags", "fileinto"];
if header :matches "subject" "ALERT: *" {
  if duplicate :seconds 60 :uniqueid "${1}" { setflag "\\seen"; }
  fileinto "Alerts";
}`, bossMsg, nil, "track:1m0s fileinto:Alerts"},
		{"7352 header", `require ["duplicate", "fileinto"]; if duplicate :header "X-Event-ID" :handle "notifier" { discard; }`,
			"X-Event-ID: 123\r\n\r\n", nil, "track:168h0m0s implicit-keep"},
		// RFC 5435 section 9.
		{"5435 variables", `require ["enotify", "fileinto", "variables"];
if header :contains "from" "boss@example.org" {
  notify :importance "1" :message "This is probably very important" "mailto:alm@example.com";
  stop;
}
if header :matches "Subject" "*" { set "subject" "${1}"; }
if header :matches "From" "*" { set "from" "${1}"; }
notify :importance "3" :message "[SIEVE] ${from}: ${subject}" "mailto:alm@example.com";`, "", nil,
			"notify:mailto:alm@example.com:[SIEVE] coyote@desert.example.org: I have a present for you implicit-keep"},
		// RFC 5436 section 2.
		{"5436 uri", `require ["enotify"]; notify :from "me@example.com" "mailto:alm@example.com?cc=b@example.com&subject=hello";`, "", nil,
			"notify:mailto:alm@example.com?cc=b@example.com&subject=hello:coyote@desert.example.org: I have a present for you implicit-keep"},
		// RFC 5173 section 7.
		{"5173 content", `require ["body", "fileinto"];
if body :content "text/plain" :contains "birdseed" { fileinto "birds"; }`, "", nil, "fileinto:birds"},
		// RFC 5233 section 5.
		{"5233 folders", `require ["envelope", "subaddress", "fileinto", "variables"];
if envelope :matches :detail "to" "*" { fileinto "INBOX.${1}"; }`, "", nil, "fileinto:INBOX.work"},
		// RFC 5231 section 6.
		{"5231 received count", `require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if header :count "ge" :comparator "i;ascii-numeric" ["received"] ["3"] { fileinto "lots-of-hops"; }`, "", nil, "implicit-keep"},
	})
}
