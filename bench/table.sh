#!/usr/bin/env bash
# Print the Markdown table of a bench/run.sh results directory (the JSON
# reports of "casella bench").
#
#   bench/table.sh /tmp/casella-bench.XXXXXX/results
set -euo pipefail
R=${1:?usage: bench/table.sh RESULTS_DIR}

# get prints the jq expression $2 of report $1, or nothing when the report
# or the value is missing.
get() { [ -f "$R/$1.json" ] && jq -r "$2 // empty" "$R/$1.json" 2>/dev/null || true; }

# fmt rounds a number for the table: one decimal below 100, none above.
fmt() {
	[ -n "$1" ] || { echo "—"; return; }
	awk -v v="$1" 'BEGIN { if (v < 100) printf "%.1f", v; else printf "%.0f", v }'
}

# fms rounds a latency in ms: two decimals below 10.
fms() {
	[ -n "$1" ] || { echo "—"; return; }
	awk -v v="$1" 'BEGIN { if (v < 10) printf "%.2f", v; else printf "%.1f", v }'
}

# ratio prints $1 / $2 as "1.23×", or "—".
ratio() {
	[ -n "$1" ] && [ -n "$2" ] || { echo "—"; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "—"; else printf "%.2f×", a / b }'
}

# cmd prints field $3 of the stat of command $2 in report $1.
cmd() { get "$1" ".commands[] | select(.op == \"$2\") | .$3"; }

# row prints a table row of its arguments, trimmed.
row() {
	local out="" c
	for c in "$@"; do
		c="${c#"${c%%[![:space:]]*}"}"
		out+="| ${c%"${c##*[![:space:]]}"} "
	done
	echo "$out|"
}

smtp_rate() { get "$1" .messages_per_second; }

# trio prints the row $1 of the numbers $2, $3 and $4, then $2 / $3 and
# $2 / $4.
trio() {
	row " $1 " " $(fmt "$2") " " $(fmt "$3") " " $(fmt "$4") " " $(ratio "$2" "$3") " " $(ratio "$2" "$4") "
}

# cpu_row prints the row of machine CPU per message, $1, $2 and $3 in ms
# (cpu_per_message), with trio's ratios.
cpu_row() { trio "machine CPU per message, ms, load generator included (lower is better)" "$@"; }

# each_round lists the accepted rates of server $1's SMTP rounds in order.
each_round() {
	local r out=""
	for ((r = 1; r <= rounds; r++)); do
		out+="${out:+, }$(fmt "$(smtp_rate "smtp-$1-r$r")")"
	done
	echo "${out:-—}"
}
delivered() {
	local s
	s=$(get "$1-drain" .delivered_after_s)
	[ -z "$s" ] || awk -v n="$(get "$1" .accepted)" -v s="$s" 'BEGIN { printf "%.2f", n / s }'
}

# cpu_per_message prints the milliseconds of CPU the machine spent per
# message accepted, from the first connection of report $1 to its last
# delivery.
cpu_per_message() {
	local s
	s=$(get "$1-drain" .machine_cpu_s)
	[ -z "$s" ] || awk -v n="$(get "$1" .accepted)" -v s="$s" 'BEGIN { if (n > 0) printf "%.3f", s * 1000 / n }'
}

# ran reports whether a workload left its Casella report: the sections of
# workloads left out of the run are not printed.
ran() { [ -s "$R/$1-casella.json" ]; }

if ran smtp; then
# A single round, or reports from before rounds were taken, need no median.
rounds=$(find "$R" -name 'smtp-casella-r*.json' ! -name '*-drain.json' | wc -l)
median=""
[ "$rounds" -le 1 ] || median="; median of $rounds rounds"
echo "### SMTP ingest: $(get smtp-casella .messages) messages of $(get smtp-casella .size) over $(get smtp-casella .connections) connections to $(get smtp-casella .mailboxes) mailboxes$median"
echo
row "" " Casella " " Postfix → Dovecot (LMTP, Maildir) " " smtp-sink (discards) " " Casella / Postfix " " Casella / smtp-sink "
row "---" "--:" "--:" "--:" "--:" "--:"
trio "accepted, messages/s (higher is better)" "$(smtp_rate smtp-casella)" "$(smtp_rate smtp-postfix)" "$(smtp_rate smtp-sink)"
for q in p50 p99; do
	trio "reply to end of DATA, $q ms (lower is better)" "$(get smtp-casella ".data_reply.${q}_ms")" "$(get smtp-postfix ".data_reply.${q}_ms")" "$(get smtp-sink ".data_reply.${q}_ms")"
done
if [ "$rounds" -gt 1 ]; then
	c=$(each_round casella) p=$(each_round postfix) s=$(each_round sink)
	row " accepted in each round, messages/s " " $c " " $p " " $s " " — " " — "
fi
c=$(delivered smtp-casella) p=$(delivered smtp-postfix)
row " in the mailboxes, messages/s from first connection to last delivery " " $(fmt "$c") " " $(fmt "$p") " " — " " $(ratio "$c" "$p") " " — "
cpu_row "$(cpu_per_message smtp-casella)" "$(cpu_per_message smtp-postfix)" "$(cpu_per_message smtp-sink)"
echo
fi

# The run with RAM_CEILING=1 also measured a Casella whose data directory
# is a tmpfs: the same code with the disk taken out.
if ran smtp && [ -s "$R/smtp-ram.json" ]; then
echo "### SMTP ingest with Casella's data directory in RAM (tmpfs, not durable): the ceiling of its code on this machine$median"
echo
row "" " Casella, data in RAM " " Casella " " smtp-sink (discards) " " in RAM / Casella " " in RAM / smtp-sink "
row "---" "--:" "--:" "--:" "--:" "--:"
trio "accepted, messages/s (higher is better)" "$(smtp_rate smtp-ram)" "$(smtp_rate smtp-casella)" "$(smtp_rate smtp-sink)"
if [ "$rounds" -gt 1 ]; then
	row " accepted in each round, messages/s " " $(each_round ram) " " $(each_round casella) " " $(each_round sink) " " — " " — "
fi
cpu_row "$(cpu_per_message smtp-ram)" "$(cpu_per_message smtp-casella)" "$(cpu_per_message smtp-sink)"
echo
fi

# imap_table prints the table of the IMAP mix whose reports are named
# $1-casella and $1-dovecot, their rounds $1-SERVER-rN, under title $2.
imap_table() {
	local p=$1 rounds c d op cm c99 dm d99
	rounds=$(find "$R" -name "$p-casella-r*.json" | wc -l)
	echo "### $2: $(get "$p-casella" .clients) clients over $(get "$p-casella" .mailboxes) mailboxes for $(fmt "$(get "$p-casella" .elapsed_s)") s, median of $rounds rounds"
	echo
	row "" " Casella " " Dovecot (Maildir) " " Casella / Dovecot "
	row "---" "--:" "--:" "--:"
	c=$(get "$p-casella" .ops_per_second) d=$(get "$p-dovecot" .ops_per_second)
	row " commands/s (higher is better) " " $(fmt "$c") " " $(fmt "$d") " " $(ratio "$c" "$d") "
	rounds_of() {
		local r out=""
		for ((r = 1; r <= rounds; r++)); do
			out+="${out:+, }$(fmt "$(get "$p-$1-r$r" .ops_per_second)")"
		done
		echo "${out:-—}"
	}
	row " commands/s of each round " " $(rounds_of casella) " " $(rounds_of dovecot) " " "
	c=$(get "$p-casella" .errors) d=$(get "$p-dovecot" .errors)
	row " failed commands " " ${c:-—} " " ${d:-—} " " "
	c=$(get "$p-casella" .protocol_errors) d=$(get "$p-dovecot" .protocol_errors)
	row " protocol errors (responses contradicting the session's model) " " ${c:-—} " " ${d:-—} " " "
	for op in LOGIN LIST STATUS SELECT "FETCH flags" "FETCH envelopes" "FETCH body" "STORE flags" "STORE keywords" 'STORE \\Deleted' EXPUNGE APPEND LOGOUT; do
		cm=$(cmd "$p-casella" "$op" mean_ms) c99=$(cmd "$p-casella" "$op" p99_ms)
		dm=$(cmd "$p-dovecot" "$op" mean_ms) d99=$(cmd "$p-dovecot" "$op" p99_ms)
		row " $(echo "$op" | sed 's/\\\\/\\/') mean / p99 ms (lower is better) " " $(fms "$cm") / $(fms "$c99") " " $(fms "$dm") / $(fms "$d99") " " $(ratio "$cm" "$dm") / $(ratio "$c99" "$d99") "
	done
	echo
}

if ran imap; then
	imap_table imap "IMAP stateful mix, each client's next command as soon as the last is answered"
	if [ -f "$R/imap-rate-casella.json" ]; then
		imap_table imap-rate "IMAP stateful mix at an equal offered load of $(fmt "$(get imap-rate-casella .offered_per_second)") commands/s"
	fi
fi

if ran idle; then
echo "### IDLE: $(get idle-casella .connections) connections held $(fmt "$(get idle-casella .hold_s)") s"
echo
row "" " Casella " " Dovecot " " Casella / Dovecot "
row "---" "--:" "--:" "--:"
c=$(get idle-casella .idling) d=$(get idle-dovecot .idling)
row " connections idling after the hold " " ${c:-—} " " ${d:-—} " " "
c=$(get idle-casella '.pss_per_connection_bytes / 1024') d=$(get idle-dovecot '.pss_per_connection_bytes / 1024')
row " server memory per connection, PSS KiB (lower is better) " " $(fmt "$c") " " $(fmt "$d") " " $(ratio "$c" "$d") "
c=$(get idle-casella '.rss_per_connection_bytes / 1024') d=$(get idle-dovecot '.rss_per_connection_bytes / 1024')
row " server memory per connection, RSS KiB " " $(fmt "$c") " " $(fmt "$d") " " $(ratio "$c" "$d") "
c=$(get idle-casella .after.processes) d=$(get idle-dovecot .after.processes)
row " server processes " " ${c:-—} " " ${d:-—} " " "
c=$(get idle-casella .setup_s) d=$(get idle-dovecot .setup_s)
row " time to open all (connect, LOGIN, SELECT, IDLE), s " " $(fmt "$c") " " $(fmt "$d") " " $(ratio "$c" "$d") "
echo
fi

if ran mailbox; then
echo "### Large mailbox: $(get mailbox-casella .messages) messages; median of $(get mailbox-casella '.commands[0].count') runs, each on a new connection"
echo
row "" " Casella " " Dovecot " " Casella / Dovecot "
row "---" "--:" "--:" "--:"
c=$(get mailbox-casella .append_per_second) d=$(get mailbox-dovecot .append_per_second)
row " APPEND to fill it, messages/s over 4 connections (higher is better) " " $(fmt "$c") " " $(fmt "$d") " " $(ratio "$c" "$d") "
for op in "SELECT" "UID FETCH 1:* (FLAGS)" "UID SEARCH SINCE" "UID SORT (REVERSE DATE)"; do
	c=$(cmd mailbox-casella "$op" p50_ms) d=$(cmd mailbox-dovecot "$op" p50_ms)
	cc=$(fmt "$c") dd=$(fmt "$d")
	if [ "$op" = "UID SORT (REVERSE DATE)" ]; then
		[ -n "$c" ] || cc="no SORT"
		[ -n "$d" ] || dd="no SORT"
	fi
	row " $op, ms (lower is better) " " $cc " " $dd " " $(ratio "$c" "$d") "
done
fi
