# Casella for bench/run.sh: each instance has its own data directory and
# configuration under $WORK/<name>, accounts user1..user$MAILBOXES and big,
# all @example.test. Sourced by run.sh, which sets CASELLA (the binary),
# WORK and the ports.

declare -A CASELLA_PIDS

# start_casella starts instance $1 with SMTP on port $2, IMAP on $3 and
# HTTP on $4. With $5 = ram its data directory is a tmpfs: nothing it
# stores survives a power loss, so its figures are the ceiling of Casella's
# own code on this machine, with the disk taken out, not a durable rate.
start_casella() {
	local name=$1 smtp=$2 imap=$3 http=$4 d="$WORK/$1"
	mkdir -p "$d/data"
	CASELLA_PIDS[$name]="" # stop_casella unmounts it even if it never starts
	if [ "${5:-}" = ram ]; then
		mount -t tmpfs -o size=8g,mode=0700 "casella-bench-$name" "$d/data"
	fi
	cat >"$d/casella.toml" <<-CONF
	# Written by casella bench/run.sh.
	hostname = "casella.bench.test"
	max_connections = $((SMTP_CONNS + IDLE_CONNS + IMAP_CLIENTS + 1000))
	[log]
	level = "warn"
	[smtp]
	listen = "127.0.0.1:$smtp"
	submission = ""
	submissions = ""
	max_connections_per_ip = $((SMTP_CONNS + 100))
	# The Postfix beside it runs no SPF, DKIM or DMARC milter.
	check_senders = false
	[imap]
	listen = "127.0.0.1:$imap"
	tls_listen = ""
	# All the clients come from one address, $IDLE_CONNS IDLE connections
	# to $MAILBOXES accounts: as Dovecot's mail_max_userip_connections in
	# peers.sh, the caps per address and per account and address step aside.
	max_connections = $((IDLE_CONNS + IMAP_CLIENTS + 100))
	max_connections_per_ip = $((IDLE_CONNS + IMAP_CLIENTS + 100))
	max_connections_per_user_ip = $((IDLE_CONNS + IMAP_CLIENTS + 100))
	[pop3]
	listen = ""
	tls_listen = ""
	[managesieve]
	listen = ""
	[http]
	listen = "127.0.0.1:$http"
	[demo]
	enabled = false
	CONF
	local c=(--data "$d/data" --config "$d/casella.toml")
	"$CASELLA" domain add example.test "${c[@]}" >/dev/null
	for u in big $(seq -f 'user%g' 1 "$MAILBOXES"); do
		"$CASELLA" account add "$u@example.test" --password "$PASSWORD" "${c[@]}" >/dev/null
	done
	"$CASELLA" serve "${c[@]}" >"$d/server.log" 2>&1 &
	CASELLA_PIDS[$name]=$!
	wait_port "$imap" "$name"
}

# stop_casella stops every instance and unmounts the data directories in
# RAM.
stop_casella() {
	local name
	for name in "${!CASELLA_PIDS[@]}"; do
		kill "${CASELLA_PIDS[$name]}" 2>/dev/null || true
		wait "${CASELLA_PIDS[$name]}" 2>/dev/null || true
		if mountpoint -q "$WORK/$name/data"; then
			umount "$WORK/$name/data"
		fi
	done
}

# casella_queue prints how many accepted messages instance $1 has not yet
# delivered to mailboxes.
casella_queue() {
	"$CASELLA" queue list --data "$WORK/$1/data" --config "$WORK/$1/casella.toml" | tail -n +2 | wc -l
}
