#!/usr/bin/env bash
# Measure Casella against Postfix and Dovecot on this machine and print a
# Markdown table. See bench/README.md.
#
#   bench/run.sh            full size (an hour or more on 2 cores)
#   QUICK=1 bench/run.sh    small numbers, a smoke run of a few minutes
#
#   WORKLOADS="idle mailbox" bench/run.sh    only some of smtp, imap, idle, mailbox
#   RAM_CEILING=1 bench/run.sh  also SMTP into a Casella whose data is in RAM
#
#   WORKLOADS=imap bench/run.sh   only the IMAP mix (IMAP_ROUNDS=3 rounds as
#                                 fast as each server answers, then as many
#                                 at an equal offered load of IMAP_RATE
#                                 commands/s; IMAP_RATE=0 skips those)
#
# Every server runs from a temporary directory on loopback ports; the JSON
# reports, logs and table stay there (printed at the end). KEEP=1 keeps the
# servers' data too.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
QUICK=${QUICK:-0}

if [ "$QUICK" = 1 ]; then
	SMTP_MESSAGES=${SMTP_MESSAGES:-500} SMTP_CONNS=${SMTP_CONNS:-5} MAILBOXES=${MAILBOXES:-10}
	IMAP_CLIENTS=${IMAP_CLIENTS:-5} IMAP_DURATION=${IMAP_DURATION:-5s} IMAP_FILL=${IMAP_FILL:-20} IMAP_ROUNDS=${IMAP_ROUNDS:-1}
	IMAP_RATE=${IMAP_RATE:-100}
	IDLE_CONNS=${IDLE_CONNS:-200} IDLE_HOLD=${IDLE_HOLD:-3s} BIG_MESSAGES=${BIG_MESSAGES:-2000} SETTLE=${SETTLE:-0}
	SMTP_ROUNDS=${SMTP_ROUNDS:-1}
else
	SMTP_MESSAGES=${SMTP_MESSAGES:-20000} SMTP_CONNS=${SMTP_CONNS:-20} MAILBOXES=${MAILBOXES:-100}
	IMAP_CLIENTS=${IMAP_CLIENTS:-50} IMAP_DURATION=${IMAP_DURATION:-60s} IMAP_FILL=${IMAP_FILL:-200} IMAP_ROUNDS=${IMAP_ROUNDS:-3}
	IMAP_RATE=${IMAP_RATE:-1500}
	IDLE_CONNS=${IDLE_CONNS:-10000} IDLE_HOLD=${IDLE_HOLD:-30s} BIG_MESSAGES=${BIG_MESSAGES:-100000} SETTLE=${SETTLE:-60}
	SMTP_ROUNDS=${SMTP_ROUNDS:-3}
fi
SMTP_SIZE=${SMTP_SIZE:-5KB-50KB}
# Logins hash the password (Casella: argon2id), so opening thousands of
# connections at once measures the hash, and its transient memory would
# count as memory per connection; open them a few at a time.
IDLE_PARALLEL=${IDLE_PARALLEL:-8}
PASSWORD=bench-password
CASELLA_SMTP_PORT=22525 CASELLA_IMAP_PORT=22143 CASELLA_HTTP_PORT=22080
POSTFIX_PORT=23525 DOVECOT_IMAP_PORT=24143 DOVECOT_LMTP_PORT=24024 SINK_PORT=25525
RAM_SMTP_PORT=26525 RAM_IMAP_PORT=26143 RAM_HTTP_PORT=26080
RAM_CEILING=${RAM_CEILING:-0}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-1800}
WORKLOADS=${WORKLOADS:-smtp imap idle mailbox}

# wants reports whether workload $1 is to run.
wants() { [[ " $WORKLOADS " == *" $1 "* ]]; }

WORK=$(mktemp -d /tmp/casella-bench.XXXXXX)
chmod 755 "$WORK" # Postfix's and Dovecot's users reach their directories in it
RESULTS="$WORK/results"
mkdir -p "$RESULTS"

log() { printf '\n== %s\n' "$*" >&2; }

# shellcheck source=bench/peers.sh
. "$BENCH/peers.sh"
# shellcheck source=bench/casella.sh
. "$BENCH/casella.sh"

cleanup() {
	stop_sink
	stop_postfix
	stop_dovecot
	stop_casella
	if [ "${KEEP:-0}" != 1 ]; then
		rm -rf "$WORK/casella/data" "$WORK/dovecot/mail" "$WORK/postfix/queue"
	fi
}
trap cleanup EXIT

# The IDLE bench holds $IDLE_CONNS connections: each needs a descriptor in
# the bench and in the server.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 1000)) ]; then
	echo "bench: the open files limit is $(ulimit -n); $IDLE_CONNS IDLE connections need more (IDLE_CONNS=... lowers the count)" >&2
	exit 1
fi

# Every port must be free: a server left running from an earlier run would
# answer in place of the one this run starts, and be measured instead.
ports=("$CASELLA_SMTP_PORT" "$CASELLA_IMAP_PORT" "$CASELLA_HTTP_PORT" "$POSTFIX_PORT" "$DOVECOT_IMAP_PORT" "$DOVECOT_LMTP_PORT" "$SINK_PORT")
if [ "$RAM_CEILING" = 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "bench: RAM_CEILING=1 mounts a tmpfs for Casella's data; run as root" >&2
		exit 1
	fi
	ports+=("$RAM_SMTP_PORT" "$RAM_IMAP_PORT" "$RAM_HTTP_PORT")
fi
for port in "${ports[@]}"; do
	if listening "$port"; then
		echo "bench: something already listens on 127.0.0.1:$port; stop it (ss -ltnp 'sport = :$port' names it) and run again" >&2
		exit 1
	fi
done

install_peers
log "building casella"
make -C "$ROOT" build >/dev/null
CASELLA="$ROOT/casella"

start_casella casella "$CASELLA_SMTP_PORT" "$CASELLA_IMAP_PORT" "$CASELLA_HTTP_PORT"
CASELLA_PID=${CASELLA_PIDS[casella]}
if [ "$RAM_CEILING" = 1 ]; then
	start_casella casella-ram "$RAM_SMTP_PORT" "$RAM_IMAP_PORT" "$RAM_HTTP_PORT" ram
fi
start_dovecot
if wants smtp; then
	start_postfix
	start_sink
fi

# bench runs "casella bench $1" with the rest of the arguments and saves
# the JSON report as $RESULTS/<name>.json.
bench() {
	local name=$1 mode=$2
	shift 2
	log "$mode: $name"
	"$CASELLA" bench "$mode" --json "$@" >"$RESULTS/$name.json"
}

# cpu_ticks prints the CPU time the whole machine has spent busy since it
# booted, in clock ticks: user, nice, system, irq and softirq time of all
# cores (proc(5)), not idle, I/O wait or steal.
cpu_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
TICK=$(getconf CLK_TCK)

# drained waits until the command $2 (a function and its arguments, split
# at spaces) prints 0, then records in
# $RESULTS/$1-drain.json the seconds since $3 (the start of the load) and
# the CPU seconds the machine spent since $4 (cpu_ticks then).
drained() {
	local name=$1 probe=$2 start=$3 ticks=$4 n
	for _ in $(seq 1 "$DRAIN_TIMEOUT"); do
		n=$($probe)
		if [ "$n" = 0 ]; then
			echo "{\"delivered_after_s\": $(($(date +%s%N) / 1000000 - start))e-3, \"machine_cpu_s\": $(machine_cpu "$ticks")}" >"$RESULTS/$1-drain.json"
			return
		fi
		sleep 1
	done
	echo "bench: $name still has $n messages queued after ${DRAIN_TIMEOUT}s" >&2
	exit 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
machine_cpu() { awk -v a="$1" -v b="$(cpu_ticks)" -v hz="$TICK" 'BEGIN { print (b - a) / hz }'; }

# settle writes back what the last server left dirty and waits $SETTLE
# seconds, so that no SMTP run pays for the files the one before it
# deleted. On ext4 without a journal, as on the machine the README's figures
# come from, a new file's inode is searched past recently freed ones, which
# the kernel keeps from reuse for a while: right after another run's 20,000
# messages were deleted, Casella took about a fifth fewer messages/s, and
# Postfix, which runs right after Casella's spool empties, paid for
# Casella's deletions.
settle() {
	sync
	sleep "$SETTLE"
}

# median_round copies the report of the SMTP round whose accepted rate is
# the median of server $1's rounds (the lower middle one of an even number),
# with its drain report, to smtp-$1.json, the name table.sh reads. Every
# round's report stays beside it.
median_round() {
	local best
	best=$(for f in "$RESULTS/smtp-$1"-r*.json; do
		case $f in *-drain.json) continue ;; esac
		echo "$(jq -r .messages_per_second "$f") $(basename "$f" .json)"
	done | sort -g | awk '{ a[NR] = $2 } END { print a[int((NR + 1) / 2)] }')
	cp "$RESULTS/$best.json" "$RESULTS/smtp-$1.json"
	if [ -f "$RESULTS/$best-drain.json" ]; then
		cp "$RESULTS/$best-drain.json" "$RESULTS/smtp-$1-drain.json"
	fi
}

# The SMTP rates of one server move by a tenth or more from run to run on a
# shared machine, so the servers take turns for $SMTP_ROUNDS rounds and the
# table gives each one's median round.
SMTP_ARGS=(--messages "$SMTP_MESSAGES" --connections "$SMTP_CONNS" --size "$SMTP_SIZE" --mailboxes "$MAILBOXES")

# smtp_run measures the SMTP workload against port $2 as report $1, after
# the file system settled, and waits until the command $3 says the server
# delivered everything it accepted.
#
# Besides its rate, each run records the CPU the whole machine spent on it:
# the two cores are shared by the server, the load generator and the
# kernel's writeback, so CPU per message, which the machine's noise moves
# less than the rate, says how much work each server does for a message.
smtp_run() {
	local name=$1 port=$2 queue=$3 t c
	settle
	t=$(now_ms) c=$(cpu_ticks)
	bench "$name" smtp --server "127.0.0.1:$port" "${SMTP_ARGS[@]}"
	drained "$name" "$queue" "$t" "$c"
}

# sink_run measures the SMTP workload against smtp-sink, which keeps
# nothing: no file system to settle, no queue to drain.
sink_run() {
	local c
	c=$(cpu_ticks)
	bench "$1" smtp --server "127.0.0.1:$SINK_PORT" "${SMTP_ARGS[@]}"
	echo "{\"machine_cpu_s\": $(machine_cpu "$c")}" >"$RESULTS/$1-drain.json"
}

if wants smtp; then
	for r in $(seq 1 "$SMTP_ROUNDS"); do
		smtp_run "smtp-casella-r$r" "$CASELLA_SMTP_PORT" "casella_queue casella"
		if [ "$RAM_CEILING" = 1 ]; then
			smtp_run "smtp-ram-r$r" "$RAM_SMTP_PORT" "casella_queue casella-ram"
		fi
		smtp_run "smtp-postfix-r$r" "$POSTFIX_PORT" postfix_queue
		sink_run "smtp-sink-r$r"
	done
	for s in casella postfix sink; do
		median_round "$s"
	done
	if [ "$RAM_CEILING" = 1 ]; then
		median_round ram
	fi
fi

# The IMAP mix, like SMTP, takes turns for $IMAP_ROUNDS rounds; the table
# gives each server's median round by commands/s. Every INBOX is filled
# to $IMAP_FILL messages first (unmeasured), so that the mix finds a
# mailbox like a user's, not whatever the SMTP workload left.
IMAP_ARGS=(--clients "$IMAP_CLIENTS" --duration "$IMAP_DURATION" --mailboxes "$MAILBOXES" --fill "$IMAP_FILL" --password "$PASSWORD")
if wants imap; then
	for r in $(seq 1 "$IMAP_ROUNDS"); do
		bench "imap-casella-r$r" imap --server "127.0.0.1:$CASELLA_IMAP_PORT" "${IMAP_ARGS[@]}"
		bench "imap-dovecot-r$r" imap --server "127.0.0.1:$DOVECOT_IMAP_PORT" "${IMAP_ARGS[@]}"
	done
	for s in casella dovecot; do
		best=$(for f in "$RESULTS/imap-$s"-r*.json; do
			echo "$(jq -r .ops_per_second "$f") $(basename "$f" .json)"
		done | sort -g | awk '{ a[NR] = $2 } END { print a[int((NR + 1) / 2)] }')
		cp "$RESULTS/$best.json" "$RESULTS/imap-$s.json"
	done
	# The same mix at an equal offered load, below what either server
	# answers as fast as it can: as fast as possible, the faster server
	# also gets more writes at once, and its write latency pays for its
	# read speed. The median round is the one whose mean latency over all
	# commands is the median.
	if [ "$IMAP_RATE" != 0 ]; then
		for r in $(seq 1 "$IMAP_ROUNDS"); do
			bench "imap-rate-casella-r$r" imap --server "127.0.0.1:$CASELLA_IMAP_PORT" "${IMAP_ARGS[@]}" --rate "$IMAP_RATE"
			bench "imap-rate-dovecot-r$r" imap --server "127.0.0.1:$DOVECOT_IMAP_PORT" "${IMAP_ARGS[@]}" --rate "$IMAP_RATE"
		done
		for s in casella dovecot; do
			best=$(for f in "$RESULTS/imap-rate-$s"-r*.json; do
				echo "$(jq -r '[.commands[] | .count * .mean_ms] as $t | [.commands[] | .count] as $n | ($t | add) / ($n | add)' "$f") $(basename "$f" .json)"
			done | sort -g | awk '{ a[NR] = $2 } END { print a[int((NR + 1) / 2)] }')
			cp "$RESULTS/$best.json" "$RESULTS/imap-rate-$s.json"
		done
	fi
fi

IDLE_ARGS=(--connections "$IDLE_CONNS" --hold "$IDLE_HOLD" --parallel "$IDLE_PARALLEL" --mailboxes "$MAILBOXES" --password "$PASSWORD")
if wants idle; then
	bench idle-casella idle --server "127.0.0.1:$CASELLA_IMAP_PORT" --pid "$CASELLA_PID" "${IDLE_ARGS[@]}"
	bench idle-dovecot idle --server "127.0.0.1:$DOVECOT_IMAP_PORT" --pid "$(dovecot_pid)" "${IDLE_ARGS[@]}"
fi

# Each command takes tens of milliseconds on a 20,000-message mailbox, where
# a noisy machine moves a median of 3 by a third: time them 9 times.
BIG_ARGS=(--user big@example.test --password "$PASSWORD" --messages "$BIG_MESSAGES" --repeat "${BIG_REPEAT:-9}")
if wants mailbox; then
	bench mailbox-casella mailbox --server "127.0.0.1:$CASELLA_IMAP_PORT" "${BIG_ARGS[@]}"
	bench mailbox-dovecot mailbox --server "127.0.0.1:$DOVECOT_IMAP_PORT" "${BIG_ARGS[@]}"
fi

log "table"
"$BENCH/table.sh" "$RESULTS" | tee "$RESULTS/table.md"
echo >&2
echo "bench: reports, logs and the table are in $WORK" >&2
