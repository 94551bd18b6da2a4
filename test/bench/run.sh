#!/usr/bin/env bash
# make bench BENCH=<name>: run test/bench/<name>.sh on a scratch cluster.
#
# The runner installs what is missing, builds and installs perfkit, makes
# a scratch cluster in a fresh directory under /tmp (initdb as an
# unprivileged user), and calls the benchmark's bench_main.  A benchmark
# prints "name: value" lines and ends with one or more ratios against a
# baseline it measured in the same run.  The cluster is removed afterwards.
#
# Helpers a benchmark may use:
#   bench_conf LINE...      append lines to postgresql.conf
#   bench_restart           (re)start the cluster with the current conf
#   bench_psql ARGS...      psql -X -q -v ON_ERROR_STOP=1 to database bench
#   bench_pgbench ARGS...   pgbench against database bench; prints tps
#   median N...             the median of the numbers given
#   bench_instructions SNAPSHOT SQL [PROFILE [OUTPUT]] [-- SETTING...]
#                           CPU instructions (callgrind) of a single-user
#                           backend running file SQL on a fresh copy of
#                           SNAPSHOT at $BENCH_DATA (cluster stopped)
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

name=${1:?usage: run.sh <benchmark>}
script="$PK_TOP/test/bench/$name.sh"
[ -f "$script" ] || pk_die "no benchmark $name (test/bench/$name.sh)"

pk_require_packages $PK_PACKAGES
pk_build_install >/dev/null

BENCH_DIR=$(pk_workdir "bench-$name")
BENCH_PORT=$(pk_free_port 5599)
BENCH_DATA="$BENCH_DIR/data"
# commands run as the cluster's user start where that user can be
cd "$BENCH_DIR"
trap 'pk_cluster_stop "$BENCH_DIR"; rm -rf "$BENCH_DIR"' EXIT

pk_cluster_create "$BENCH_DIR" "$BENCH_PORT" \
	"shared_buffers = 1GB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
	"autovacuum = off"

bench_conf() { printf '%s\n' "$@" >>"$BENCH_DATA/postgresql.conf"; }
bench_restart() { pk_cluster_restart "$BENCH_DIR"; }

bench_psql() {
	pk_as_user "$PK_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$BENCH_DIR" -p "$BENCH_PORT" \
		-U postgres -d bench "$@"
}

bench_pgbench() {
	pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres "$@" bench 2>&1 |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p' | tail -n 1
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# bench_instructions SNAPSHOT SQL [PROFILE [OUTPUT]] [-- SETTING...]: the
# instructions callgrind counts for a single-user backend of database
# bench that runs the statements of file SQL on a fresh copy of data
# directory SNAPSHOT, made at $BENCH_DATA (so the cluster must be stopped;
# $BENCH_DATA is left as the run left it).  PROFILE keeps the profile (for
# callgrind_annotate), OUTPUT the backend's output; both are /dev/null
# when empty or not given.  Each SETTING after -- is passed as -c SETTING.
# Counting N and then 2N statements and taking the difference leaves the
# cost of N statements without the backend's start-up.
bench_instructions() {
	local snapshot=$1 sql=$2 profile=/dev/null output=/dev/null
	shift 2
	if [ $# -gt 0 ] && [ "$1" != -- ]; then profile=${1:-/dev/null}; shift; fi
	if [ $# -gt 0 ] && [ "$1" != -- ]; then output=${1:-/dev/null}; shift; fi
	[ "${1:-}" = -- ] && shift
	local settings=() s
	for s in "$@"; do settings+=(-c "$s"); done
	rm -rf "$BENCH_DATA"
	cp -a "$snapshot" "$BENCH_DATA"
	chown "$(pk_run_user)" "$sql"
	pk_as_user valgrind --tool=callgrind --callgrind-out-file="$profile" \
		"$PK_BINDIR/postgres" --single -D "$BENCH_DATA" "${settings[@]}" bench \
		<"$sql" 2>&1 >"$output" |
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

pk_as_user "$PK_BINDIR/psql" -X -q -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -d postgres \
	-c "CREATE DATABASE bench"

. "$script"
bench_main
