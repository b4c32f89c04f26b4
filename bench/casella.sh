# Casella for bench/run.sh: its own data directory and configuration under
# $WORK, accounts user1..user$MAILBOXES and big, all @example.test.
# Sourced by run.sh, which sets CASELLA (the binary), WORK and the ports.

start_casella() {
	local d="$WORK/casella"
	mkdir -p "$d"
	cat >"$d/casella.toml" <<-CONF
	# Written by casella bench/run.sh.
	hostname = "casella.bench.test"
	[log]
	level = "warn"
	[smtp]
	listen = "127.0.0.1:$CASELLA_SMTP_PORT"
	submission = ""
	submissions = ""
	max_connections_per_ip = $((SMTP_CONNS + 100))
	[imap]
	listen = "127.0.0.1:$CASELLA_IMAP_PORT"
	tls_listen = ""
	max_connections_per_ip = $((IDLE_CONNS + IMAP_CLIENTS + 100))
	[pop3]
	listen = ""
	tls_listen = ""
	[http]
	listen = "127.0.0.1:$CASELLA_HTTP_PORT"
	[demo]
	enabled = false
	CONF
	local c=("$CASELLA" --data "$d/data" --config "$d/casella.toml")
	"${c[0]}" domain add example.test "${c[@]:1}" >/dev/null
	for u in big $(seq -f 'user%g' 1 "$MAILBOXES"); do
		"${c[0]}" account add "$u@example.test" --password "$PASSWORD" "${c[@]:1}" >/dev/null
	done
	"$CASELLA" serve --data "$d/data" --config "$d/casella.toml" >"$d/server.log" 2>&1 &
	CASELLA_PID=$!
	wait_port "$CASELLA_IMAP_PORT" casella
}

stop_casella() {
	if [ -n "${CASELLA_PID:-}" ]; then
		kill "$CASELLA_PID" 2>/dev/null || true
		wait "$CASELLA_PID" 2>/dev/null || true
	fi
}

# casella_queue prints how many accepted messages Casella has not yet
# delivered to mailboxes.
casella_queue() {
	"$CASELLA" queue list --data "$WORK/casella/data" --config "$WORK/casella/casella.toml" | tail -n +2 | wc -l
}
