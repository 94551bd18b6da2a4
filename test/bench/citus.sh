# citus: perfkit on a Citus cluster of a coordinator and two workers on
# loopback ports of this machine (make bench BENCH=citus; skipped with a
# message when Citus is not installed: see ../shared/citus/install.sh).
#
# Parts (BENCH_PARTS, default "cache"):
#   cache   cached() hit over a distributed table against running the same
#           query on the cluster (a count and a GROUP BY over 200,000 rows
#           in 4 shards on 2 workers), one client, alternating over
#           BENCH_ROUNDS rounds of BENCH_SECONDS, medians.  A hit asks every
#           node for the versions of its shards (one round trip to each,
#           in parallel, on connections the backend keeps), so it costs a
#           round trip to the cluster, not a run of the query; target: the
#           hit >= 3x the query's TPS.
#   Other parts are functions citus_part_<name> defined in this file or in
#   test/bench/citus_<name>.part.sh (sourced when present).
#
# The cluster, for every part (and for a person trying things by hand):
#   citus_cluster_start DIR N   initdb and start a coordinator in DIR/c and
#                               N workers in DIR/w1..wN on 127.0.0.1 ports,
#                               'citus,pg_cron,perfkit' preloaded, joined,
#                               perfkit created; database bench
#   citus_cluster_stop DIR      stop them all
#   citus_psql NODE ARGS...     psql to database bench on NODE (c, w1, ...)
#   citus_pgbench NODE ARGS...  pgbench against NODE's bench; prints tps
# The ports are in DIR/<node>/port.  A rollup part can build its source
# with create_distributed_table() on the coordinator and compare with the
# scratch single-node cluster run.sh made (bench_psql), in the same run.

citus_node_port() { cat "$1/$2/port"; }

citus_psql() {
	local node=$1
	shift
	pk_as_user "$PK_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
		-p "$(citus_node_port "$CITUS_DIR" "$node")" -U postgres -d bench "$@"
}

citus_pgbench() {
	local node=$1
	shift
	pk_as_user "$PK_BINDIR/pgbench" -h 127.0.0.1 -p "$(citus_node_port "$CITUS_DIR" "$node")" \
		-U postgres "$@" bench 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | tail -n 1
}

citus_cluster_start() {
	local dir=$1 n=$2 node port=5700 i
	CITUS_DIR=$dir
	mkdir -p "$dir"
	chown "$(pk_run_user)" "$dir"
	for node in c $(seq -f 'w%g' 1 "$n"); do
		mkdir -p "$dir/$node"
		chown "$(pk_run_user)" "$dir/$node"
		port=$(pk_free_port "$port")
		echo "$port" >"$dir/$node/port"
		pk_as_user "$PK_BINDIR/initdb" -D "$dir/$node/data" -U postgres -A trust -E UTF8 \
			--locale=C.UTF-8 >"$dir/$node/initdb.log" 2>&1 ||
			{ cat "$dir/$node/initdb.log"; pk_die "initdb of $node failed"; }
		cat >>"$dir/$node/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/$node'
shared_preload_libraries = 'citus,pg_cron,perfkit'
cron.database_name = 'bench'
max_worker_processes = 32
max_connections = 100
shared_buffers = 256MB
citus.shard_count = 4
perfkit.cache_size = '64MB'
autovacuum = off
CONF
		echo "host all all 127.0.0.1/32 trust" >>"$dir/$node/data/pg_hba.conf"
		pk_as_user "$PK_BINDIR/pg_ctl" -D "$dir/$node/data" -l "$dir/$node/server.log" -w start \
			>/dev/null || { tail -n 20 "$dir/$node/server.log"; pk_die "$node did not start"; }
		pk_as_user "$PK_BINDIR/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
			-c "CREATE DATABASE bench" >/dev/null
		citus_psql "$node" -c "CREATE EXTENSION citus" >/dev/null
		port=$((port + 1))
	done
	citus_psql c -c "SELECT citus_set_coordinator_host('127.0.0.1', $(citus_node_port "$dir" c))" >/dev/null
	for i in $(seq 1 "$n"); do
		citus_psql c -c "SELECT citus_add_node('127.0.0.1', $(citus_node_port "$dir" "w$i"))" >/dev/null
	done
	citus_psql c -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION perfkit" >/dev/null
}

citus_cluster_stop() {
	local node
	for node in "$1"/*/; do
		[ -d "$node/data" ] &&
			pk_as_user "$PK_BINDIR/pg_ctl" -D "$node/data" -m immediate stop >/dev/null 2>&1
	done
	true
}

citus_part_cache() {
	local secs=${BENCH_SECONDS:-10} rounds=${BENCH_ROUNDS:-3} r mode q
	declare -A tps
	citus_psql c >/dev/null <<'SQL'
CREATE TABLE events (device int, at timestamptz, value float8);
SELECT create_distributed_table('events', 'device');
INSERT INTO events
SELECT i % 1000, now() - (i % 86400) * interval '1 second', i % 97
  FROM generate_series(1, 200000) i;
ANALYZE events;
SQL
	q="SELECT device % 10 AS g, count(*) AS n, sum(value) AS s FROM events GROUP BY 1 ORDER BY 1"
	echo "SELECT perfkit.cached('$q', NULL, '1 day');" >"$CITUS_DIR/hit.sql"
	echo "$q;" >"$CITUS_DIR/query.sql"
	# the hit must be a hit, with the same rows as the query
	# (the comparison itself runs uncached: the subquery starts a distributed transaction)
	citus_psql c -At -c "SELECT perfkit.cached('$q', NULL, '1 day') = (SELECT jsonb_agg(to_jsonb(x)) FROM ($q) x)" 2>/dev/null |
		grep -qx t || pk_die "cached() over the distributed table differs from the query"
	for r in $(seq 1 "$rounds"); do
		for mode in hit query; do
			tps[$mode]+=" $(citus_pgbench c -n -M prepared -c 1 -T "$secs" -f "$CITUS_DIR/$mode.sql")"
		done
	done
	local hit query
	hit=$(median ${tps[hit]})
	query=$(median ${tps[query]})
	echo "citus cached() hit tps (rounds):${tps[hit]}"
	echo "citus query on the cluster tps (rounds):${tps[query]}"
	echo "citus cached() hit tps: $hit"
	echo "citus query tps: $query"
	awk -v a="$hit" -v b="$query" 'BEGIN { printf "ratio citus hit/query: %.2fx (target >= 3x)\n", a / b }'
}

bench_main() {
	local share lib part
	share=$("$PK_PG_CONFIG" --sharedir)
	lib=$("$PK_PG_CONFIG" --pkglibdir)
	if [ ! -f "$share/extension/citus.control" ] || [ ! -f "$lib/citus.so" ]; then
		echo "SKIP citus: Citus is not installed (bash ../shared/citus/install.sh installs it)"
		return 0
	fi
	citus_cluster_start "$BENCH_DIR/citus" 2
	trap 'citus_cluster_stop "$BENCH_DIR/citus"; pk_cluster_stop "$BENCH_DIR"; rm -rf "$BENCH_DIR"' EXIT
	for part in ${BENCH_PARTS:-cache}; do
		[ -f "$PK_TOP/test/bench/citus_$part.part.sh" ] && . "$PK_TOP/test/bench/citus_$part.part.sh"
		declare -F "citus_part_$part" >/dev/null || pk_die "no part $part in the citus benchmark"
		"citus_part_$part"
	done
}
