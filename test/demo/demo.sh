#!/usr/bin/env bash
# make demo / make demo-stop: perfkit's main job on a throwaway cluster.
#
#   start: installs what is missing, builds and installs perfkit, starts a
#          fresh PostgreSQL 15 cluster under .demo/ (owned by an
#          unprivileged user, pg_cron and perfkit preloaded), loads a sample
#          telemetry database and runs the guided tour (test/demo/tour/*.sql,
#          one part per capability, in name order).
#   stop:  stops the cluster and removes .demo/.
#
# Settings (environment): PERFKIT_DEMO_PORT (first port tried, 5499),
# PERFKIT_DEMO_VEHICLES (100), PERFKIT_DEMO_HOURS of one-row-per-second
# telemetry (3), PERFKIT_DEMO_DAYS of trips and charging sessions (90).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

DB=perfkit_demo
state="$PK_TOP/.demo"

# The cluster lives under the checkout when the run user can reach it, and
# under /tmp when it cannot (a checkout in /root, say).
demo_dir() {
	if [ -f "$state/location" ]; then
		cat "$state/location"
	elif pk_as_user test -x "$PK_TOP" 2>/dev/null; then
		echo "$state"
	else
		echo "/tmp/perfkit-demo-$(id -u)"
	fi
}

demo_stop() {
	local dir
	dir=$(demo_dir)
	# pg_ctl status: 0 running, 3 not running (a stale pid file after a
	# crash or reboot included), 4 no data directory
	if [ -d "$dir/data" ] && (cd / && pk_as_user "$PK_BINDIR/pg_ctl" -D "$dir/data" status >/dev/null 2>&1); then
		(cd / && pk_as_user "$PK_BINDIR/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null) ||
			pk_die "could not stop the demo cluster in $dir"
		pk_say "demo cluster stopped"
	fi
	rm -rf "$dir" "$state"
}

demo_start() {
	local dir port sockdir psql
	pk_require_packages $PK_PACKAGES
	pk_say "building and installing perfkit"
	pk_build_install

	demo_stop
	dir=$(demo_dir)
	mkdir -p "$dir" "$state"
	if [ "$dir" != "$state" ]; then
		echo "$dir" >"$state/location"
		pk_say "the postgres user cannot reach $PK_TOP: the cluster goes to $dir"
	fi
	chown "$(pk_run_user)" "$dir"
	# commands run as the cluster's user start where that user can be
	cd "$dir"
	port=$(pk_free_port "${PERFKIT_DEMO_PORT:-5499}")
	# Unix socket paths are limited to 107 bytes.
	sockdir="$dir/run"
	[ ${#sockdir} -lt 80 ] || sockdir=$(pk_as_user mktemp -d /tmp/perfkit-demo-sock.XXXXXX)
	pk_as_user mkdir -p "$sockdir"

	pk_say "creating a cluster in $dir/data (port $port)"
	pk_as_user "$PK_BINDIR/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; pk_die "initdb failed"; }
	cat >>"$dir/data/postgresql.conf" <<CONF

# perfkit demo
port = $port
listen_addresses = 'localhost'
unix_socket_directories = '$sockdir'
shared_preload_libraries = 'pg_cron,perfkit'
cron.database_name = '$DB'
cron.use_background_workers = on
max_worker_processes = 16
shared_buffers = 512MB
work_mem = 32MB
maintenance_work_mem = 256MB
max_wal_size = 4GB
logging_collector = off
CONF
	pk_as_user "$PK_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null ||
		{ tail -n 20 "$dir/server.log"; pk_die "the demo cluster did not start"; }
	echo "$port" >"$state/port"
	echo "$sockdir" >"$state/socket"

	psql=("$PK_BINDIR/psql" -X -q -h "$sockdir" -p "$port" -U postgres -v ON_ERROR_STOP=1)
	pk_as_user "${psql[@]}" -d postgres -c "CREATE DATABASE $DB"
	pk_as_user "${psql[@]}" -d "$DB" -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION perfkit"

	pk_say "loading the sample telemetry database"
	local t0=$SECONDS
	pk_as_user "${psql[@]}" -d "$DB" \
		-v vehicles="${PERFKIT_DEMO_VEHICLES:-100}" \
		-v hours="${PERFKIT_DEMO_HOURS:-3}" \
		-v days="${PERFKIT_DEMO_DAYS:-90}" \
		<"$PK_TOP/test/demo/sample_data.sql"
	pk_say "sample data loaded in $((SECONDS - t0)) s"

	local part
	for part in "$PK_TOP"/test/demo/tour/*.sql; do
		# on standard input: the cluster's user may not read the checkout
		pk_as_user "${psql[@]}" -d "$DB" <"$part"
	done

	cat <<MSG

== the demo cluster is running
   connect:  psql "host=localhost port=$port user=postgres dbname=$DB"
             (or, from this machine as root: runuser -u postgres -- psql -h $sockdir -p $port $DB)
   data:     $dir/data   log: $dir/server.log
   stop it:  make demo-stop   (stops the cluster and deletes it)
   The cluster trusts every local connection: it is for trying perfkit,
   not for keeping data.
MSG
}

case "${1:-start}" in
	start) demo_start ;;
	stop) demo_stop ;;
	*) pk_die "usage: $0 start|stop" ;;
esac
