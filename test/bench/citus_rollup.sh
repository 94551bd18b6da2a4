# citus_rollup: a rollup on a Citus distributed table, coordinator and two
# workers, against the same rollup on one node, same data, same run.
#
#   1. Backfill: the first refresh_rollup() of a daily rollup by vehicle
#      (count, sum, avg, max) over BENCH_ROWS rows (default 1M, 90 days,
#      500 vehicles, a btree on the time column).  On the cluster it is one pushed-down INSERT ...
#      SELECT ... GROUP BY ... ON CONFLICT per shard (citus.shard_count =
#      8: 4 per worker).
#   2. Refresh after late writes: 5,000 rows inserted into buckets 1 to 90
#      days old, and 5,000 updated, then refresh_rollup().
# Each round drops and creates the rollups and runs one node, then the
# cluster, then the other way round (A B B A); BENCH_ROUNDS rounds
# (default 3).  Prints min/median/max wall time of each and the ratio
# one node / cluster of the medians (above 1: the cluster is faster).
# Every round checks the two rollups equal GROUP BY over the raw rows.
#
# Target: none on one machine: the workers share its cores, so the figure
# measures what distribution costs (connections, two-phase commit, the
# coordinator's planning), not what it buys.  With the workers on
# separate machines (each as large as the single node), backfill and
# refresh should reach >= 1.5x (each worker rolls up half the rows).
# Needs Citus installed (test/README.md says how); skips otherwise.

citus_bench_node() {	# DIR PORT: a scratch node that joins a cluster
	mkdir -p "$1" && chown "$(pk_run_user)" "$1"
	pk_cluster_create "$1" "$2" "listen_addresses = '127.0.0.1'" \
		"shared_preload_libraries = 'citus,perfkit'" "max_connections = 100" \
		"shared_buffers = 256MB" "work_mem = '64MB'" "autovacuum = off" \
		"citus.shard_count = 8" "max_worker_processes = 32"
	echo "host all all 127.0.0.1/32 trust" >>"$1/data/pg_hba.conf"
	pk_cluster_restart "$1"
	pk_as_user "$PK_BINDIR/psql" -X -q -h "$1" -p "$2" -U postgres -d postgres \
		-c "CREATE DATABASE bench" -c '\c bench' -c "CREATE EXTENSION citus"
}

cpsql() {
	pk_as_user "$PK_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$BENCH_DIR/c0" -p "$CITUS_PORT0" \
		-U postgres -d bench "$@"
}

# ms WHICH SQL: wall time of SQL on the single node (one) or the cluster's coordinator (citus)
ms() {
	local t0 t1
	t0=$(date +%s%N)
	if [ "$1" = one ]; then bench_psql -At -c "$2" >/dev/null; else cpsql -c "$2" >/dev/null; fi
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

stats() {	# NAME N...: min/median/max
	local name=$1
	shift
	printf '%s: min %s ms, median %s ms, max %s ms\n' "$name" \
		"$(printf '%s\n' "$@" | sort -g | head -n 1)" "$(median "$@")" \
		"$(printf '%s\n' "$@" | sort -g | tail -n 1)"
}

bench_main() {
	local rounds=${BENCH_ROUNDS:-3} rows=${BENCH_ROWS:-1000000}
	local share lib r which
	share=$("$PK_PG_CONFIG" --sharedir)
	lib=$("$PK_PG_CONFIG" --pkglibdir)
	[ -n "${PERFKIT_PG_ROOT:-}" ] && share=$PERFKIT_PG_ROOT$share && lib=$PERFKIT_PG_ROOT$lib
	if [ ! -f "$share/extension/citus.control" ] || [ ! -f "$lib/citus.so" ]; then
		echo "SKIP: Citus is not installed (see test/README.md)"
		return 0
	fi

	bench_conf "shared_preload_libraries = 'perfkit'" "work_mem = '64MB'" "shared_buffers = 256MB"
	bench_restart
	bench_psql -c "CREATE EXTENSION perfkit"

	CITUS_PORT0=$(pk_free_port 5610)
	local p1 p2
	citus_bench_node "$BENCH_DIR/c0" "$CITUS_PORT0"
	p1=$(pk_free_port $((CITUS_PORT0 + 1)))
	citus_bench_node "$BENCH_DIR/c1" "$p1"
	p2=$(pk_free_port $((p1 + 1)))
	citus_bench_node "$BENCH_DIR/c2" "$p2"
	trap 'for d in c0 c1 c2; do pk_cluster_stop "$BENCH_DIR/$d"; done; pk_cluster_stop "$BENCH_DIR"; rm -rf "$BENCH_DIR"' EXIT
	cpsql -c "SELECT citus_set_coordinator_host('127.0.0.1', $CITUS_PORT0)" \
		-c "SELECT citus_add_node('127.0.0.1', $p1)" -c "SELECT citus_add_node('127.0.0.1', $p2)" \
		-c "CREATE EXTENSION perfkit" >/dev/null

	echo "loading $rows rows on one node and on the cluster"
	local load="CREATE TABLE trips (id bigint NOT NULL, vehicle int NOT NULL, started_at timestamptz NOT NULL, km numeric);"
	local fill="INSERT INTO trips SELECT i, ((i::bigint * 7919) % 500)::int, now() - interval '90 days' + (i % 129600) * interval '1 minute', (i % 37) + 0.25 FROM generate_series(1, $rows) i;"
	local index="CREATE INDEX ON trips (started_at)"
	bench_psql -c "$load" -c "$fill" -c "$index" -c "VACUUM ANALYZE trips"
	cpsql -c "$load" -c "SELECT create_distributed_table('trips', 'vehicle')" -c "$fill" -c "$index" \
		-c "VACUUM ANALYZE trips" >/dev/null

	local create="SELECT perfkit.create_rollup('trips_daily', 'trips', 'started_at', 'day', ARRAY['vehicle'], ARRAY['count(*)', 'sum(km)', 'avg(km)', 'max(km)'])"
	local late="INSERT INTO trips SELECT $rows + i, (i * 31) % 500, now() - (1 + i % 90) * interval '1 day', 1.5 FROM generate_series(1, 5000) i; UPDATE trips SET km = km + 1 WHERE id % (($rows / 5000) + 1) = 0;"
	local exact="SELECT count(*) FROM ((SELECT bucket, vehicle, count, sum_km, avg_km, max_km FROM trips_daily EXCEPT ALL SELECT date_trunc('day', started_at, 'UTC'), vehicle, count(*), sum(km), avg(km), max(km) FROM trips WHERE started_at < date_trunc('day', now(), 'UTC') GROUP BY 1, 2) UNION ALL (SELECT date_trunc('day', started_at, 'UTC'), vehicle, count(*), sum(km), avg(km), max(km) FROM trips WHERE started_at < date_trunc('day', now(), 'UTC') GROUP BY 1, 2 EXCEPT ALL SELECT bucket, vehicle, count, sum_km, avg_km, max_km FROM trips_daily)) d"
	local -a bf_one=() bf_citus=() rf_one=() rf_citus=()
	for r in $(seq 1 "$rounds"); do
		for which in $( [ $((r % 2)) -eq 1 ] && echo "one citus" || echo "citus one"); do
			if [ "$which" = one ]; then
				bench_psql -c "SELECT perfkit.drop_rollup('trips_daily')" >/dev/null 2>&1 || true
				bench_psql -c "$create" >/dev/null
				bf_one+=("$(ms one "SELECT perfkit.refresh_rollup('trips_daily')")")
				bench_psql -c "$late" >/dev/null
				rf_one+=("$(ms one "SELECT perfkit.refresh_rollup('trips_daily')")")
				[ "$(bench_psql -At -c "$exact")" = 0 ] || pk_die "one node: the rollup differs from GROUP BY"
			else
				cpsql -c "SELECT perfkit.drop_rollup('trips_daily')" >/dev/null 2>&1 || true
				cpsql -c "$create" >/dev/null
				bf_citus+=("$(ms citus "SELECT perfkit.refresh_rollup('trips_daily')")")
				cpsql -c "$late" >/dev/null
				rf_citus+=("$(ms citus "SELECT perfkit.refresh_rollup('trips_daily')")")
				[ "$(cpsql -c "$exact")" = 0 ] || pk_die "cluster: the rollup differs from GROUP BY"
			fi
		done
	done
	stats "backfill, one node" "${bf_one[@]}"
	stats "backfill, coordinator + 2 workers" "${bf_citus[@]}"
	stats "refresh after 10,000 late writes, one node" "${rf_one[@]}"
	stats "refresh after 10,000 late writes, coordinator + 2 workers" "${rf_citus[@]}"
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)"
	awk -v a="$(median "${bf_one[@]}")" -v b="$(median "${bf_citus[@]}")" \
		'BEGIN { printf "backfill ratio one node / cluster: %.2fx (target on separate machines: >= 1.5x; none on one machine)\n", a / b }'
	awk -v a="$(median "${rf_one[@]}")" -v b="$(median "${rf_citus[@]}")" \
		'BEGIN { printf "refresh ratio one node / cluster: %.2fx (target on separate machines: >= 1.5x; none on one machine)\n", a / b }'
}
