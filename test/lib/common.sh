# test/lib/common.sh: helpers shared by make test, make demo and make bench.
#
# Sourced, not run.  Every script that needs PostgreSQL goes through here,
# so that installing missing packages, building and running as an
# unprivileged user (initdb refuses root) are written once.

PK_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PK_PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PK_BINDIR=/usr/lib/postgresql/15/bin
PK_PGXS=/usr/lib/postgresql/15/lib/pgxs

# PERFKIT_PG_ROOT=DIR: install perfkit into a private copy of the server
# under DIR instead of the system's directories, and run every server from
# that copy.  PostgreSQL finds its share and library directories relative
# to its own binary, so two checkouts can build and test side by side
# without overwriting each other's perfkit.so.
if [ -n "${PERFKIT_PG_ROOT:-}" ]; then
	PK_BINDIR=$PERFKIT_PG_ROOT/usr/lib/postgresql/15/bin
fi

# Packages perfkit's build and tests need on Debian 12.
PK_PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-cron \
libipc-run-perl make gcc"
# Real clients and tools the tests use (never dependencies of perfkit).
PK_TEST_PACKAGES="prometheus prometheus-postgres-exporter"

pk_say() { printf '== %s\n' "$*"; }
pk_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# pk_require_packages PKG...: install whichever are missing (as root with
# apt-get), or say what to install and stop.
pk_require_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		pk_die "missing packages: ${missing[*]}; run as root: apt-get install -y ${missing[*]}"
	fi
	pk_say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null ||
		pk_die "apt-get update failed"
	# Services the packages bring (prometheus, its exporter, redis) must not
	# start: the tests run their own on loopback ports.  policy-rc.d says so
	# to invoke-rc.d, for this install only.
	local policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d &&
			policy=/usr/sbin/policy-rc.d
		# never left behind, even when the install is interrupted
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT INT TERM
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		{ [ -n "$policy" ] && rm -f "$policy"; pk_die "apt-get install ${missing[*]} failed"; }
	[ -n "$policy" ] && rm -f "$policy" && trap - EXIT INT TERM
	return 0
}

# The unprivileged user that runs servers: postgres (from Debian's
# postgresql-common) when we are root, else ourselves.
pk_run_user() {
	if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

# pk_as_user CMD...: run CMD as that user, keeping the environment.
pk_as_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# pk_build_install [make args]: build (warnings are errors with WERROR=1)
# and install into the server's directories.
pk_build_install() {
	local sudo=""
	(cd "$PK_TOP" && make -s -B PG_CONFIG="$PK_PG_CONFIG" "$@") ||
		pk_die "build failed"
	if [ -n "${PERFKIT_PG_ROOT:-}" ]; then
		pk_private_root
		(cd "$PK_TOP" && make -s PG_CONFIG="$PK_PG_CONFIG" DESTDIR="$PERFKIT_PG_ROOT" \
			install >/dev/null) || pk_die "make install into $PERFKIT_PG_ROOT failed"
		return
	fi
	if [ "$(id -u)" -ne 0 ] && [ ! -w "$("$PK_PG_CONFIG" --pkglibdir)" ]; then
		command -v sudo >/dev/null || pk_die "cannot write $("$PK_PG_CONFIG" --pkglibdir); run as root"
		sudo="sudo"
	fi
	(cd "$PK_TOP" && $sudo make -s PG_CONFIG="$PK_PG_CONFIG" install >/dev/null) ||
		pk_die "make install failed"
}

# pk_private_root: make the private server copy PERFKIT_PG_ROOT names
# (binaries are copied, not linked: the server resolves symlinks to find
# its directories).
pk_private_root() {
	local d
	for d in /usr/lib/postgresql/15 /usr/share/postgresql/15; do
		if [ -d "$PERFKIT_PG_ROOT$d" ]; then
			# files installed since (partman, hypopg, citus) join the copy;
			# what is there already stays
			cp -an "$d/." "$PERFKIT_PG_ROOT$d/" ||
				pk_die "cannot update $d in $PERFKIT_PG_ROOT"
			continue
		fi
		mkdir -p "$PERFKIT_PG_ROOT$(dirname "$d")"
		cp -a "$d" "$PERFKIT_PG_ROOT$d" || pk_die "cannot copy $d into $PERFKIT_PG_ROOT"
	done
	chmod 755 "$PERFKIT_PG_ROOT"
}

# pk_workdir NAME: a fresh directory the run user owns, under /tmp, so
# that the checkout itself may sit where that user cannot write.
pk_workdir() {
	local dir
	dir=$(mktemp -d "/tmp/perfkit-$1.XXXXXX")
	chown "$(pk_run_user)" "$dir"
	echo "$dir"
}

# pk_free_port START: the first TCP port from START on that nothing
# listens on.
pk_free_port() {
	local port=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		port=$((port + 1))
	done
	echo "$port"
}

# pk_cluster_create DIR PORT [CONF-LINE...]: initdb a scratch cluster in
# DIR/data (DIR owned by the run user), listening only on a socket in DIR,
# with the given extra postgresql.conf lines, and start it.
pk_cluster_create() {
	local dir=$1 port=$2
	shift 2
	pk_as_user "$PK_BINDIR/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; pk_die "initdb failed"; }
	{
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		printf '%s\n' "$@"
	} >>"$dir/data/postgresql.conf"
	pk_cluster_restart "$dir"
}

# pk_cluster_restart DIR: (re)start the scratch cluster in DIR.
pk_cluster_restart() {
	local dir=$1
	pk_as_user "$PK_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w restart \
		>/dev/null 2>&1 ||
		pk_as_user "$PK_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null ||
		{ tail -n 20 "$dir/server.log"; pk_die "scratch cluster in $dir did not start"; }
}

# pk_cluster_stop DIR: stop it (immediately) if it runs.
pk_cluster_stop() {
	pk_as_user "$PK_BINDIR/pg_ctl" -D "$1/data" -m immediate stop >/dev/null 2>&1 || true
}
