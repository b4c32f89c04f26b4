#!/usr/bin/env bash
# Outbound relaying: Casella's outbound queue, delivering to MX hosts
# itself, beside Postfix relaying the same messages, both to one sink MX
# (casella bench sink) that counts and checks every message. Prints a
# Markdown table: messages per second from the first message sent to the
# last one the sink took, and the server's CPU time per message. See
# docs/performance.md.
#
#   bench/outbound.sh                        5000 messages, 3 rounds each
#   OUT_MESSAGES=1000 OUT_ROUNDS=1 bench/outbound.sh   a smoke run
#
# Both servers get the same messages from `casella bench smtp` over
# OUT_CONNS connections: Casella on its submission port (STARTTLS and AUTH,
# as its users send), Postfix on its smtpd port from mynetworks, as a
# provider's relay takes mail from its webmail and submission hosts. The
# sink answers DNS too, naming itself every domain's MX, and Casella uses
# it as its resolver; Postfix sends everything to it as its relayhost.
# Neither signs with DKIM nor checks senders. Runs as root (Postfix's
# master must); everything lives in a temporary directory on loopback.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MESSAGES=${OUT_MESSAGES:-5000}
ROUNDS=${OUT_ROUNDS:-3}
CONNS=${OUT_CONNS:-10}
SIZE=${OUT_SIZE:-5KB-50KB}
# Concurrent deliveries to the one destination, the same for both: Postfix's
# smtp_destination_concurrency_limit, Casella's destination_concurrency
# and outbound workers.
CONCURRENCY=${OUT_CONCURRENCY:-20}
PASSWORD=bench-password
CASELLA_SUB=27587 CASELLA_MX=27525 CASELLA_HTTP=27080 POSTFIX_PORT=27526 SINK_PORT=27025 SINK_DNS=27053
# bench/peers.sh's Postfix names a Dovecot for example.test; none runs, and no
# mail goes there.
DOVECOT_LMTP_PORT=27024

WORK=$(mktemp -d /tmp/casella-outbound.XXXXXX)
chmod 755 "$WORK" # Postfix's daemons reach their queue in it
log() { printf '== %s\n' "$*" >&2; }
# shellcheck source=bench/peers.sh
. "$ROOT/bench/peers.sh"
for port in $CASELLA_SUB $CASELLA_MX $CASELLA_HTTP $POSTFIX_PORT $SINK_PORT $SINK_DNS; do
	if listening "$port"; then
		echo "bench: something already listens on 127.0.0.1:$port; stop it and run again" >&2
		exit 1
	fi
done
if [ "$(id -u)" != 0 ] || ! command -v postfix >/dev/null; then
	echo "bench: run as root with Postfix installed (apt-get install postfix)" >&2
	exit 1
fi

CASELLA_PID="" SINK_PID=""
cleanup() {
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
	[ -n "$CASELLA_PID" ] && kill "$CASELLA_PID" 2>/dev/null && wait "$CASELLA_PID" 2>/dev/null || true
	stop_postfix
	[ "${KEEP:-0}" = 1 ] || rm -rf "$WORK/casella/data" "$WORK/postfix/queue"
}
trap cleanup EXIT

log "building casella"
CASELLA="$WORK/casella-bin"
(cd "$ROOT" && go build -o "$CASELLA" ./cmd/casella)

# Casella: submission for the load, direct delivery to the sink's MX.
mkdir -p "$WORK/casella/data"
cat >"$WORK/casella/casella.toml" <<CONF
hostname = "casella.bench.test"
[log]
level = "warn"
[smtp]
listen = "127.0.0.1:$CASELLA_MX"
submission = "127.0.0.1:$CASELLA_SUB"
submissions = ""
max_connections_per_ip = 1000
check_senders = false
resolvers = ["127.0.0.1:$SINK_DNS"]
delivery_port = $SINK_PORT
destination_concurrency = $CONCURRENCY
recipients_per_hour = 0
[spool]
workers = $CONCURRENCY
[imap]
listen = ""
tls_listen = ""
[pop3]
listen = ""
tls_listen = ""
[managesieve]
listen = ""
[http]
listen = "127.0.0.1:$CASELLA_HTTP"
[demo]
enabled = false
CONF
cfg=(--data "$WORK/casella/data" --config "$WORK/casella/casella.toml")
"$CASELLA" domain add example.test "${cfg[@]}" >/dev/null
"$CASELLA" account add sender@example.test --password "$PASSWORD" "${cfg[@]}" >/dev/null
"$CASELLA" serve "${cfg[@]}" >"$WORK/casella/server.log" 2>&1 &
CASELLA_PID=$!
wait_port "$CASELLA_SUB" casella

# Postfix: bench/peers.sh's, a relay for mynetworks to its relayhost, the
# sink, raised for throughput as providers raise it; its queue keeps its
# default fsync.
POSTFIX_EXTRA="relayhost = [127.0.0.1]:$SINK_PORT
smtp_destination_concurrency_limit = $CONCURRENCY
default_destination_concurrency_limit = $CONCURRENCY
smtp_tls_security_level = none"
start_postfix
POSTFIX_PID=$(tr -d ' ' <"$WORK/postfix/queue/pid/master.pid")

# cpu_ticks prints the CPU time, in clock ticks, of process $1 and all
# its descendants, with the children they have reaped.
cpu_ticks() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
		{
			pid = $1; line = $0; sub(/^[^)]*\) /, "", line); split(line, f, " ")
			parent[pid] = f[2]; ticks[pid] = f[12] + f[13] + f[14] + f[15]
		}
		END {
			for (p in parent) {
				q = p
				while (q != "" && q != root && q != 1 && q != 0) q = parent[q]
				if (q == root) sum += ticks[p]
			}
			print sum + 0
		}'
}

# run measures one round of server $1: the load into port $2 with the
# extra bench smtp flags after it, the sink counting.
run() {
	local name=$1 port=$2 pid
	shift 2
	pid=$CASELLA_PID
	[ "$name" = postfix ] && pid=$POSTFIX_PID
	"$CASELLA" bench sink --listen "127.0.0.1:$SINK_PORT" --dns "127.0.0.1:$SINK_DNS" --expect "$MESSAGES" \
		--idle 60s --json >"$WORK/$name-$round-sink.json" 2>"$WORK/$name-$round-sink.log" &
	SINK_PID=$!
	wait_port "$SINK_PORT" sink
	local before
	before=$(cpu_ticks "$pid")
	"$CASELLA" bench smtp --server "127.0.0.1:$port" --messages "$MESSAGES" --connections "$CONNS" --size "$SIZE" \
		--rcpt-pattern 'rcpt%d@remote.test' --mailboxes 100 --json "$@" >"$WORK/$name-$round-load.json" 2>/dev/null
	wait "$SINK_PID" || echo "bench: the sink for $name round $round fell short; see $WORK/$name-$round-sink.json" >&2
	SINK_PID=""
	echo "$(( $(cpu_ticks "$pid") - before ))" >"$WORK/$name-$round-cpu"
}

for round in $(seq 1 "$ROUNDS"); do
	log "round $round: casella"
	run casella "$CASELLA_SUB" --starttls --insecure --user sender@example.test --password "$PASSWORD" --from sender@example.test
	log "round $round: postfix"
	run postfix "$POSTFIX_PORT" --from sender@example.test
done

python3 - "$WORK" "$ROUNDS" "$(getconf CLK_TCK)" <<'PY'
import json, sys
work, rounds, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def best(name):
    rows = []
    for r in range(1, rounds + 1):
        sink = json.load(open(f"{work}/{name}-{r}-sink.json"))
        cpu = int(open(f"{work}/{name}-{r}-cpu").read()) / hz
        rows.append((sink["messages_per_second"], 1000 * cpu / max(1, sink["accepted"]), sink))
    return max(rows, key=lambda x: x[0])
c, p = best("casella"), best("postfix")
print(f"| outbound, {c[2]['expected']} messages to one sink MX | Casella | Postfix | Casella / Postfix |")
print("|---|---|---|---|")
print(f"| messages/s, sent to taken by the sink | {c[0]:.0f} | {p[0]:.0f} | {c[0]/p[0]:.2f} |")
print(f"| CPU ms per message (server) | {c[1]:.2f} | {p[1]:.2f} | {c[1]/p[1]:.2f} |")
print(f"| taken by the sink / contradictions | {c[2]['accepted']} / {c[2]['contradictions']} | {p[2]['accepted']} / {p[2]['contradictions']} | |")
PY
echo "(reports in $WORK)" >&2
