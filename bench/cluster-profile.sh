#!/usr/bin/env bash
# Where a cluster node's time goes: starts "casella cluster local --nodes 1",
# adds a second node with [http] pprof = true on the same directory and
# cells, sends it SMTP load while taking a CPU profile, then logs every
# PostgreSQL statement (log_statement = all) during a small SMTP run and
# counts them per delivered message. See docs/performance.md.
#
#   bench/cluster-profile.sh    prints where the profile and the counts are
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MESSAGES=${MESSAGES:-3000} COUNTED=${COUNTED:-300} MAILBOXES=${MAILBOXES:-100} SECONDS_PROFILED=${SECONDS_PROFILED:-20}
PASSWORD=bench-password
WORK=$(mktemp -d /tmp/casella-cluster-profile.XXXXXX)
chmod 755 "$WORK" # PostgreSQL runs as user postgres when this runs as root
log() { printf '\n== %s\n' "$*" >&2; }

make -C "$ROOT" build >/dev/null
CASELLA="$ROOT/casella"
"$CASELLA" cluster local --nodes 1 --dir "$WORK/cluster" --keep >"$WORK/cluster.out" 2>"$WORK/cluster.log" &
CLUSTER=$!
NODE=
trap 'kill $NODE 2>/dev/null; wait $NODE 2>/dev/null; kill -INT $CLUSTER; wait $CLUSTER' EXIT
until grep -q 'Ctrl-C stops the cluster' "$WORK/cluster.out"; do
	kill -0 "$CLUSTER" || { echo "cluster did not start; see $WORK/cluster.log" >&2; exit 1; }
	sleep 0.5
done
N1="$WORK/cluster/node1"
# One PostgreSQL per cell ("PostgreSQL of cell a: HOST:PORT"); the last
# also holds the directory.
PGS=$(grep -o 'PostgreSQL of cell [^:]*: [0-9.:]*' "$WORK/cluster.out" | awk '{ print $NF }')
seq -f 'user%g@example.test' 1 "$MAILBOXES" | xargs -P 4 -I{} \
	"$CASELLA" account add {} --password "$PASSWORD" --data "$N1/data" --config "$N1/casella.toml" >/dev/null

# The profiled node: node1's configuration on other ports, with pprof.
P="$WORK/profiled"
mkdir -p "$P"
awk '
	/^\[/ { table = $0 }
	table == "[smtp]" && /^listen/ { $0 = "listen = \"127.0.0.1:28525\"" }
	table == "[imap]" && /^listen/ { $0 = "listen = \"127.0.0.1:28143\"" }
	table == "[http]" && /^listen/ { $0 = "listen = \"127.0.0.1:28080\"\npprof = true" }
	{ print }' "$N1/casella.toml" >"$P/casella.toml"
"$CASELLA" serve --config "$P/casella.toml" --data "$P/data" >"$P/server.out" 2>"$P/server.log" &
NODE=$!
until (exec 3<>/dev/tcp/127.0.0.1/28525) 2>/dev/null; do sleep 0.2; done

queued() { "$CASELLA" queue list --data "$P/data" --config "$P/casella.toml" | tail -n +2 | wc -l; }
drain() { while [ "$(queued)" != 0 ]; do sleep 1; done; }
smtp() {
	"$CASELLA" bench smtp --json --server 127.0.0.1:28525 --messages "$1" --connections 20 \
		--mailboxes "$MAILBOXES" >"$WORK/$2.json"
}

log "CPU profile of $SECONDS_PROFILED s under $MESSAGES messages (load average $(cut -d' ' -f1-3 /proc/loadavg))"
curl -s -o "$WORK/cpu.pprof" "http://127.0.0.1:28080/debug/pprof/profile?seconds=$SECONDS_PROFILED" &
CURL=$!
smtp "$MESSAGES" profiled
wait $CURL
drain

log "statements of $COUNTED messages"
declare -A before
for pg in $PGS; do
	psql -q "postgres://casella@$pg/postgres" -c "ALTER SYSTEM SET log_statement = 'all'" \
		-c "ALTER SYSTEM SET log_line_prefix = 'db=%d '" -c "SELECT pg_reload_conf()" >/dev/null
done
sleep 1
for l in "$WORK"/cluster/postgres-*/server.log; do
	before[$l]=$(wc -l <"$l")
done
smtp "$COUNTED" counted
drain
sleep 1
for pg in $PGS; do
	psql -q "postgres://casella@$pg/postgres" -c "ALTER SYSTEM RESET log_statement" \
		-c "ALTER SYSTEM RESET log_line_prefix" -c "SELECT pg_reload_conf()" >/dev/null
done
for l in "$WORK"/cluster/postgres-*/server.log; do
	tail -n +"$((before[$l] + 1))" "$l"
done | grep -E 'LOG:  (statement|execute)' >"$WORK/statements.log" || true
accepted=$(jq .accepted "$WORK/counted.json")
echo "statements per accepted message, by database and kind ($accepted messages):"
# Each line: db=NAME LOG:  execute <name>: SQL, or statement: SQL; group
# by database and the statement's first words.
sed -E 's/^db=([^ ]*) .*LOG:  (statement|execute [^:]*): /\1 /' "$WORK/statements.log" |
	awk '{ k = $1 " " $2 " " $3 " " $4 " " $5; n[k]++ } END { for (k in n) print n[k], k }' | sort -rn |
	awk -v m="$accepted" '{ c = $1; $1 = ""; printf "%6.2f %s\n", c / m, $0; t += c } END { printf "%6.2f in all\n", t / m }'
echo
go tool pprof -top -nodecount=40 "$CASELLA" "$WORK/cpu.pprof" 2>/dev/null | head -50
echo "profile, reports and logs in $WORK" >&2
