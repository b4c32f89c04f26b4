# Postfix, Dovecot and smtp-sink for bench/run.sh: installed from Debian
# packages when missing, configured under $WORK on loopback ports, started
# and stopped. Sourced by run.sh, which sets WORK, PASSWORD, MAILBOXES and
# the ports.
#
# Postfix delivers to Dovecot over LMTP into Maildir; both keep their
# default fsync behaviour (Postfix syncs its queue files, Dovecot's
# mail_fsync = optimized). Postfix's master must start as root, and Dovecot
# switches to the "mail" user for mailboxes; everything else stays in $WORK.
#
# Dovecot runs the way providers run it, not with its fork-per-login
# defaults: imap-login in high-performance mode (service_count = 0: each
# login process serves many connections, one per core kept ready), imap
# processes reused from one session to the next (service_count = 0), an
# auth cache, and a fast salted password hash (SSHA512).

# The IMAP workloads need Dovecot's IMAP server alone; SMTP needs Postfix,
# smtp-sink and Dovecot's LMTP server too.

# listening reports whether something listens on 127.0.0.1:$1.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port waits until something listens on 127.0.0.1:$1.
wait_port() {
	for _ in $(seq 1 100); do
		listening "$1" && return
		sleep 0.1
	done
	echo "bench: $2 is not listening on port $1 after 10s" >&2
	exit 1
}

install_peers() {
	local pkgs=()
	command -v dovecot >/dev/null && [ -x /usr/lib/dovecot/imap ] || pkgs+=(dovecot-imapd)
	if wants smtp; then
		command -v postfix >/dev/null && command -v smtp-sink >/dev/null || pkgs+=(postfix)
		[ -x /usr/lib/dovecot/lmtp ] || pkgs+=(dovecot-lmtpd)
	fi
	[ ${#pkgs[@]} = 0 ] && return
	if [ "$(id -u)" != 0 ]; then
		echo "bench: ${pkgs[*]} missing; run as root, or: apt-get install -y ${pkgs[*]}" >&2
		exit 1
	fi
	echo "bench: installing ${pkgs[*]}" >&2
	# Without this answer postfix's debconf asks what kind of mail
	# server this is; "No configuration" leaves /etc/postfix empty, and
	# the bench brings its own configuration.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${pkgs[@]}" >"$WORK/apt.log" 2>&1 ||
		{ echo "bench: apt-get install failed; see $WORK/apt.log" >&2; exit 1; }
}

# start_dovecot writes a configuration with passwd-file users
# user1..user$MAILBOXES and big, all @example.test, and starts Dovecot.
start_dovecot() {
	local d="$WORK/dovecot"
	mkdir -p "$d/run" "$d/state" "$d/mail"
	chown mail:mail "$d/mail"
	local hash protocols=imap lmtp_service=
	hash=$(doveadm pw -s SSHA512 -p "$PASSWORD")
	if wants smtp; then
		protocols="imap lmtp"
		lmtp_service="service lmtp {
	  inet_listener lmtp {
	    address = 127.0.0.1
	    port = $DOVECOT_LMTP_PORT
	  }
	}"
	fi
	{
		for i in $(seq 1 "$MAILBOXES"); do echo "user$i@example.test:$hash"; done
		echo "big@example.test:$hash"
	} >"$d/users"
	cat >"$d/dovecot.conf" <<-CONF
	# Written by casella bench/run.sh.
	instance_name = casella-bench
	base_dir = $d/run
	state_dir = $d/state
	log_path = $d/dovecot.log
	protocols = $protocols
	listen = 127.0.0.1
	ssl = no
	disable_plaintext_auth = no
	auth_mechanisms = plain login
	mail_location = maildir:$d/mail/%d/%n
	mail_uid = mail
	mail_gid = mail
	first_valid_uid = $(id -u mail)
	first_valid_gid = $(id -g mail)
	auth_cache_size = 10M
	passdb {
	  driver = passwd-file
	  args = $d/users
	}
	# The mailboxes Casella creates with every account, so that LIST and
	# STATUS of the IMAP mix find the same folders on both.
	namespace inbox {
	  inbox = yes
	  separator = /
	  mailbox Sent {
	    auto = subscribe
	    special_use = \Sent
	  }
	  mailbox Drafts {
	    auto = subscribe
	    special_use = \Drafts
	  }
	  mailbox Trash {
	    auto = subscribe
	    special_use = \Trash
	  }
	  mailbox Junk {
	    auto = subscribe
	    special_use = \Junk
	  }
	  mailbox Archive {
	    auto = subscribe
	    special_use = \Archive
	  }
	}
	userdb {
	  driver = static
	  args = uid=mail gid=mail home=$d/mail/%d/%n
	}
	# The IDLE bench opens $IDLE_CONNS connections from one address, to
	# $MAILBOXES accounts; the defaults allow 10 per account and address and
	# about 1000 processes per service.
	mail_max_userip_connections = 100000
	default_process_limit = $((IDLE_CONNS + 1000))
	default_client_limit = $((IDLE_CONNS + 1000))
	service anvil {
	  client_limit = $((4 * IDLE_CONNS + 4000))
	}
	service auth {
	  client_limit = $((4 * IDLE_CONNS + 4000))
	}
	# High-performance login mode: login processes serve many
	# connections each, one per core started ahead.
	service imap-login {
	  service_count = 0
	  process_min_avail = $(nproc)
	  inet_listener imap {
	    address = 127.0.0.1
	    port = $DOVECOT_IMAP_PORT
	  }
	  inet_listener imaps {
	    port = 0
	  }
	}
	# imap processes are kept and reused by later sessions instead of
	# being forked for each login and ended at its logout.
	service imap {
	  service_count = 0
	  process_min_avail = $(nproc)
	}
	$lmtp_service
	CONF
	dovecot -c "$d/dovecot.conf" || { echo "bench: dovecot did not start; see $d/dovecot.log" >&2; exit 1; }
	wait_port "$DOVECOT_IMAP_PORT" dovecot
}

dovecot_pid() { cat "$WORK/dovecot/run/master.pid"; }

stop_dovecot() {
	[ -f "$WORK/dovecot/dovecot.conf" ] && dovecot -c "$WORK/dovecot/dovecot.conf" stop 2>/dev/null || true
}

# start_postfix writes a configuration that accepts mail for example.test
# on 127.0.0.1:$POSTFIX_PORT and delivers it to Dovecot over LMTP, with
# the main.cf lines of $POSTFIX_EXTRA (bench/outbound.sh's relayhost).
start_postfix() {
	local d="$WORK/postfix"
	mkdir -p "$d/queue" "$d/data"
	chown postfix "$d/data"
	cat >"$d/main.cf" <<-CONF
	# Written by casella bench/run.sh.
	compatibility_level = 3.6
	queue_directory = $d/queue
	data_directory = $d/data
	mail_owner = postfix
	setgid_group = postdrop
	myhostname = postfix.bench.test
	mydestination =
	inet_interfaces = 127.0.0.1
	inet_protocols = ipv4
	mynetworks = 127.0.0.0/8
	virtual_mailbox_domains = example.test
	virtual_transport = lmtp:inet:127.0.0.1:$DOVECOT_LMTP_PORT
	alias_maps =
	alias_database =
	biff = no
	smtputf8_enable = no
	maillog_file_prefixes = $d
	maillog_file = $d/maillog
	default_process_limit = 200
	smtpd_client_connection_count_limit = 0
	${POSTFIX_EXTRA:-}
	CONF
	# Debian's master.cf without chroot (the bench's queue directory has
	# no copy of /etc) and with smtpd on the bench's port.
	awk -v port="$POSTFIX_PORT" '
		/^smtp +inet/ { print "127.0.0.1:" port " inet n - n - - smtpd"; next }
		/^[a-z0-9]+ +(unix|inet|fifo|pass|unix-dgram) / { $5 = "n" }
		{ print }' /etc/postfix/master.cf >"$d/master.cf"
	grep -q '^postlog' "$d/master.cf" || echo "postlog unix-dgram n - n - 1 postlogd" >>"$d/master.cf"
	postfix -c "$d" set-permissions >/dev/null 2>&1 || true
	postfix -c "$d" start >"$d/start.log" 2>&1 || { echo "bench: postfix did not start; see $d/start.log and $d/maillog" >&2; exit 1; }
	wait_port "$POSTFIX_PORT" postfix
}

stop_postfix() {
	[ -f "$WORK/postfix/main.cf" ] && postfix -c "$WORK/postfix" stop >/dev/null 2>&1 || true
}

# postfix_queue prints how many messages Postfix has not delivered yet.
postfix_queue() {
	find "$WORK/postfix/queue/incoming" "$WORK/postfix/queue/active" "$WORK/postfix/queue/deferred" \
		"$WORK/postfix/queue/maildrop" -type f 2>/dev/null | wc -l
}

start_sink() {
	# smtp-sink answers every command and discards the data: the cost of
	# SMTP itself, with nothing stored.
	smtp-sink -u postfix "127.0.0.1:$SINK_PORT" 1024 >"$WORK/smtp-sink.log" 2>&1 &
	SINK_PID=$!
	wait_port "$SINK_PORT" smtp-sink
}

stop_sink() { [ -n "${SINK_PID:-}" ] && kill "$SINK_PID" 2>/dev/null || true; }
