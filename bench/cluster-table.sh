#!/usr/bin/env bash
# Print the Markdown table of a bench/cluster.sh results directory: each
# setup's median over the rounds, and its ratio to the embedded server.
#
#   bench/cluster-table.sh /tmp/casella-cluster-bench.XXXXXX/results
set -euo pipefail
R=${1:?usage: bench/cluster-table.sh RESULTS_DIR}
SETUPS=(embedded one two)

# values prints the jq expression $2 of every round of report kind $1 of
# setup $3, one a line.
values() {
	local f
	for f in "$R/$1-$3"-r*.json; do
		case $f in *-drain.json) continue ;; esac
		[ -f "$f" ] && jq -r "$2 // empty" "$f"
	done
}

# median prints the median of the numbers on standard input (the lower
# middle one of an even count), or nothing.
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }

# total prints the sum of the numbers on standard input.
total() { awk '{ s += $1 } END { print s + 0 }'; }

fmt() {
	[ -n "$1" ] || { echo "—"; return; }
	awk -v v="$1" 'BEGIN { if (v < 100) printf "%.1f", v; else printf "%.0f", v }'
}
ratio() {
	[ -n "$1" ] && [ -n "$2" ] || { echo "—"; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "—"; else printf "%.2f×", a / b }'
}

# delivered prints, per round of setup $1, accepted messages per second
# until the last one was in its mailbox.
delivered() {
	local f d
	for f in "$R/smtp-$1"-r*.json; do
		case $f in *-drain.json) continue ;; esac
		d="${f%.json}-drain.json"
		[ -f "$d" ] && awk -v n="$(jq .accepted "$f")" -v s="$(jq .delivered_after_s "$d")" 'BEGIN { print n / s }'
	done
}

# line prints a table row: label $1, then the median of each setup from the
# command $2 (a function taking the setup), then the ratios of one and two
# to embedded.
line() {
	local label=$1 fn=$2 s m out
	declare -A med
	out="| $label "
	for s in "${SETUPS[@]}"; do
		m=$($fn "$s" | median)
		med[$s]=$m
		out+="| $(fmt "$m") "
	done
	echo "$out| $(ratio "${med[one]}" "${med[embedded]}") | $(ratio "${med[two]}" "${med[embedded]}") |"
}

# errors prints a row of the total errors of every round of each setup.
errors() {
	local label=$1 fn=$2 s out
	out="| $label "
	for s in "${SETUPS[@]}"; do
		out+="| $($fn "$s" | total) "
	done
	echo "$out| | |"
}

smtp_rate() { values smtp .messages_per_second "$1"; }
smtp_p99() { values smtp .data_reply.p99_ms "$1"; }
smtp_errors() { values smtp '(.deferred + .rejected + .failed)' "$1"; }
imap_rate() { values imap .ops_per_second "$1"; }
imap_errors() { values imap '(.errors + (.protocol_errors // 0))' "$1"; }
imap_p99() { values imap ".commands[] | select(.op == \"$OP\") | .p99_ms" "$1"; }
fetch_p99() { OP="FETCH envelopes" imap_p99 "$1"; }
body_p99() { OP="FETCH body" imap_p99 "$1"; }
append_p99() { OP=APPEND imap_p99 "$1"; }
login_p99() { OP=LOGIN imap_p99 "$1"; }

rounds=$(find "$R" -name 'smtp-embedded-r*.json' ! -name '*-drain.json' | wc -l)
echo "| median of $rounds rounds | embedded | 1-node cluster | 2-node cluster | 1 node / embedded | 2 nodes / embedded |"
echo "| --- | --- | --- | --- | --- | --- |"
line "SMTP accepted, messages/s" smtp_rate
line "SMTP delivered to mailboxes, messages/s" delivered
line "SMTP DATA reply p99, ms" smtp_p99
errors "SMTP refused or failed (all rounds)" smtp_errors
line "IMAP mix, commands/s" imap_rate
line "IMAP LOGIN p99, ms" login_p99
line "IMAP FETCH envelopes p99, ms" fetch_p99
line "IMAP FETCH body p99, ms" body_p99
line "IMAP APPEND p99, ms" append_p99
errors "IMAP errors and protocol errors (all rounds)" imap_errors
echo
echo "SMTP accepted messages/s of each round, in order, with the 1-minute load average after it:"
echo
for s in "${SETUPS[@]}"; do
	out=""
	for f in "$R/smtp-$s"-r*.json; do
		case $f in *-drain.json) continue ;; esac
		out+="${out:+, }$(fmt "$(jq .messages_per_second "$f")") (load $(jq -r '.loadavg // "?"' "${f%.json}-drain.json" 2>/dev/null))"
	done
	echo "- $s: $out"
done
