#!/usr/bin/env bash
# Measure Casella embedded (SQLite and files under one data directory)
# against a one-node and a two-node cluster (PostgreSQL cells and versitygw
# buckets, started by "casella cluster local") on this machine, and print a
# Markdown table with the ratios cluster / embedded. See bench/README.md.
#
#   bench/cluster.sh            3 rounds (a quarter of an hour on 2 busy cores)
#   QUICK=1 bench/cluster.sh    one small round, a smoke run
#
# Every setup runs from a temporary directory on loopback; the JSON
# reports, logs and table stay there (printed at the end).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
if [ "${QUICK:-0}" = 1 ]; then
	SMTP_MESSAGES=${SMTP_MESSAGES:-300} MAILBOXES=${MAILBOXES:-10} IMAP_DURATION=${IMAP_DURATION:-5s}
	ROUNDS=${ROUNDS:-1} SETTLE=${SETTLE:-0}
else
	SMTP_MESSAGES=${SMTP_MESSAGES:-3000} MAILBOXES=${MAILBOXES:-100} IMAP_DURATION=${IMAP_DURATION:-30s}
	ROUNDS=${ROUNDS:-3} SETTLE=${SETTLE:-10}
fi
SMTP_CONNS=${SMTP_CONNS:-20} SMTP_SIZE=${SMTP_SIZE:-5KB-50KB}
# A node of "casella cluster local" takes 50 IMAP connections from one
# address (the default); 40 clients stay under it with one node.
IMAP_CLIENTS=${IMAP_CLIENTS:-40}
IDLE_CONNS=0 # casella.sh sizes the connection limits with it
PASSWORD=bench-password
# Not run.sh's ports, so that both can run at once.
CASELLA_SMTP_PORT=27525 CASELLA_IMAP_PORT=27143 CASELLA_HTTP_PORT=27080
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-1800}
SETUPS="embedded one two"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A server left over from another run would answer in place of the one
# this run starts, and be measured instead.
for port in "$CASELLA_SMTP_PORT" "$CASELLA_IMAP_PORT" "$CASELLA_HTTP_PORT"; do
	if listening "$port"; then
		echo "bench: something already listens on 127.0.0.1:$port; stop it (ss -ltnp 'sport = :$port' names it) and run again" >&2
		exit 1
	fi
done

WORK=$(mktemp -d /tmp/casella-cluster-bench.XXXXXX)
chmod 755 "$WORK" # PostgreSQL runs as user postgres when this runs as root
RESULTS="$WORK/results"
mkdir -p "$RESULTS"

log() { printf '\n== %s\n' "$*" >&2; }
wait_port() {
	for _ in $(seq 1 100); do
		listening "$1" && return
		sleep 0.1
	done
	echo "bench: $2 is not listening on port $1 after 10s" >&2
	exit 1
}

# shellcheck source=bench/casella.sh
. "$BENCH/casella.sh"

declare -A CLUSTER_PIDS SMTP_ADDRS IMAP_ADDRS

# start_cluster starts "casella cluster local" with $2 nodes under
# $WORK/$1, then adds the bench's accounts through its first node (the
# directory is shared; each new account goes to the cell with fewest, so
# the cells take turns). It records the nodes' SMTP and IMAP addresses,
# comma-separated, for "casella bench --server".
start_cluster() {
	local name=$1 nodes=$2 d="$WORK/$1"
	"$CASELLA" cluster local --nodes "$nodes" --dir "$d" --keep >"$WORK/$name.out" 2>"$WORK/$name.log" &
	CLUSTER_PIDS[$name]=$!
	for _ in $(seq 1 600); do
		grep -q 'Ctrl-C stops the cluster' "$WORK/$name.out" && break
		if ! kill -0 "${CLUSTER_PIDS[$name]}" 2>/dev/null; then
			echo "bench: cluster $name did not start; see $WORK/$name.log" >&2
			exit 1
		fi
		sleep 0.5
	done
	SMTP_ADDRS[$name]=$(awk '$1 ~ /^node[0-9]+$/ { printf "%s%s", s, $2; s = "," }' "$WORK/$name.out")
	IMAP_ADDRS[$name]=$(awk '$1 ~ /^node[0-9]+$/ { printf "%s%s", s, $3; s = "," }' "$WORK/$name.out")
	[ -n "${SMTP_ADDRS[$name]}" ] || { echo "bench: no node addresses in $WORK/$name.out" >&2; exit 1; }
	seq -f 'user%g@example.test' 1 "$MAILBOXES" | xargs -P 4 -I{} \
		"$CASELLA" account add {} --password "$PASSWORD" --data "$d/node1/data" --config "$d/node1/casella.toml" >/dev/null
}

stop_clusters() {
	local name
	for name in "${!CLUSTER_PIDS[@]}"; do
		kill -INT "${CLUSTER_PIDS[$name]}" 2>/dev/null || true
		wait "${CLUSTER_PIDS[$name]}" 2>/dev/null || true
	done
}
trap 'stop_clusters; stop_casella' EXIT

# queued prints how many accepted messages setup $1 has not yet delivered,
# over all its nodes.
queued() {
	local n=0 c
	if [ "$1" = embedded ]; then
		casella_queue casella
		return
	fi
	for c in "$WORK/$1"/node*/casella.toml; do
		n=$((n + $("$CASELLA" queue list --data "$(dirname "$c")/data" --config "$c" | tail -n +2 | wc -l)))
	done
	echo "$n"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# smtp_run sends the SMTP workload to setup $2 as report $1, then waits
# until the setup delivered everything it accepted.
smtp_run() {
	local name=$1 setup=$2 t n
	sync
	sleep "$SETTLE"
	log "smtp: $name (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	t=$(now_ms)
	"$CASELLA" bench smtp --json --server "${SMTP_ADDRS[$setup]}" --messages "$SMTP_MESSAGES" \
		--connections "$SMTP_CONNS" --size "$SMTP_SIZE" --mailboxes "$MAILBOXES" >"$RESULTS/$name.json"
	for _ in $(seq 1 "$DRAIN_TIMEOUT"); do
		n=$(queued "$setup")
		if [ "$n" = 0 ]; then
			echo "{\"delivered_after_s\": $(($(now_ms) - t))e-3, \"loadavg\": $(cut -d' ' -f1 /proc/loadavg)}" >"$RESULTS/$name-drain.json"
			return
		fi
		sleep 1
	done
	echo "bench: $setup still has $n messages queued after ${DRAIN_TIMEOUT}s" >&2
	exit 1
}

imap_run() {
	local name=$1 setup=$2
	log "imap: $name (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	"$CASELLA" bench imap --json --server "${IMAP_ADDRS[$setup]}" --clients "$IMAP_CLIENTS" \
		--duration "$IMAP_DURATION" --mailboxes "$MAILBOXES" --password "$PASSWORD" >"$RESULTS/$name.json"
}

log "building casella"
make -C "$ROOT" build >/dev/null
CASELLA="$ROOT/casella"
log "starting the embedded server and the clusters"
start_casella casella "$CASELLA_SMTP_PORT" "$CASELLA_IMAP_PORT" "$CASELLA_HTTP_PORT"
SMTP_ADDRS[embedded]=127.0.0.1:$CASELLA_SMTP_PORT IMAP_ADDRS[embedded]=127.0.0.1:$CASELLA_IMAP_PORT
start_cluster one 1
start_cluster two 2

# The setups take turns, round after round: on a shared machine a rate moves
# by a tenth or more between two runs of the same binary, so the table
# gives each setup's median round.
for r in $(seq 1 "$ROUNDS"); do
	for s in $SETUPS; do
		smtp_run "smtp-$s-r$r" "$s"
		imap_run "imap-$s-r$r" "$s"
	done
done

log "table"
"$BENCH/cluster-table.sh" "$RESULTS" | tee "$RESULTS/table.md"
echo >&2
echo "bench: reports, logs and the table are in $WORK" >&2
