# cache: the result cache against what apps use instead.
#
#   1. cache_get hit vs an indexed primary-key SELECT of one row
#      (pgbench_accounts, scale 10), pgbench -M prepared, 8 clients;
#      and vs redis-server's GET (redis-benchmark, 8 clients, no
#      pipelining) on the same machine.  Targets: >= 1.3x and >= 0.7x.
#      The floor: SELECT 1, the cheapest round trip through SQL; cache_get
#      hits >= 0.9x of it, cached() hits of a one-row query (the same PK
#      SELECT, 1000 keys warmed) >= 0.8x.  All alternate over
#      BENCH_ROUNDS rounds of BENCH_SECONDS; medians.
#   2. cached() hit vs running the demo's dashboard query (an aggregate
#      over 1.08 million telemetry rows).  Target: >= 1000x.
#   3. cache_get median latency, one client.  Target: < 0.1 ms.
#   4. What the hit and miss counters cost: cache_get TPS with
#      perfkit.cache_track_stats on and off, alternating.  Target: the
#      counted run >= 0.95x the uncounted one.
#
# redis-server and redis-tools are installed for this benchmark only;
# perfkit does not depend on them.

bench_main() {
	local secs=${BENCH_SECONDS:-10} rounds=${BENCH_ROUNDS:-3}
	local r mode
	declare -A tps

	pk_require_packages redis-server redis-tools
	bench_conf "shared_preload_libraries = 'perfkit'" "perfkit.cache_size = '256MB'" \
		"max_connections = 50"
	bench_restart
	pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres \
		-i -q -s 10 bench >/dev/null 2>&1
	bench_psql -c "CREATE EXTENSION perfkit" \
		-c "SELECT count(perfkit.cache_set('acct:' || aid, jsonb_build_object('abalance', abalance), '1 day')) FROM pgbench_accounts WHERE aid <= 100000" >/dev/null

	# redis on a loopback port of its own, no persistence
	local rport
	rport=$(pk_free_port 6390)
	pk_as_user redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize yes --pidfile "$BENCH_DIR/redis.pid" --logfile "$BENCH_DIR/redis.log" \
		--dir "$BENCH_DIR"
	trap 'kill "$(cat "$BENCH_DIR/redis.pid" 2>/dev/null)" 2>/dev/null; pk_cluster_stop "$BENCH_DIR"; rm -rf "$BENCH_DIR"' EXIT
	for _ in $(seq 1 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
	redis-benchmark -p "$rport" -c 8 -n 200000 -r 100000 -t set -q >/dev/null

	cat >"$BENCH_DIR/get.sql" <<'PGB'
\set aid random(1, 100000)
SELECT perfkit.cache_get('acct:' || :aid);
PGB
	cat >"$BENCH_DIR/pk.sql" <<'PGB'
\set aid random(1, 1000000)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
PGB
	cat >"$BENCH_DIR/select1.sql" <<'PGB'
SELECT 1;
PGB
	cat >"$BENCH_DIR/cached1.sql" <<'PGB'
\set aid random(1, 1000)
SELECT perfkit.cached('SELECT abalance FROM pgbench_accounts WHERE aid = $1', ARRAY[:aid], '1 day');
PGB
	bench_psql -c "SELECT perfkit.cache_warm(ARRAY['SELECT abalance FROM pgbench_accounts WHERE aid = \$1'], '1 day', (SELECT jsonb_agg(jsonb_build_array(i::text)) FROM generate_series(1, 1000) i))" >/dev/null
	chown "$(pk_run_user)" "$BENCH_DIR"/*.sql

	bench_pgbench -M prepared -T 3 -c 8 -j 2 -f "$BENCH_DIR/pk.sql" >/dev/null	# warm
	for r in $(seq 1 "$rounds"); do
		tps[cache_get]+="$(bench_pgbench -M prepared -T "$secs" -c 8 -j 2 -f "$BENCH_DIR/get.sql") "
		tps[pk_select]+="$(bench_pgbench -M prepared -T "$secs" -c 8 -j 2 -f "$BENCH_DIR/pk.sql") "
		tps[select1]+="$(bench_pgbench -M prepared -T "$secs" -c 8 -j 2 -f "$BENCH_DIR/select1.sql") "
		tps[cached_hit]+="$(bench_pgbench -M prepared -T "$secs" -c 8 -j 2 -f "$BENCH_DIR/cached1.sql") "
		tps[redis_get]+="$(redis-benchmark -p "$rport" -c 8 -n $((secs * 100000)) -r 100000 \
			-t get -P 1 --csv 2>/dev/null | awk -F'"' '/^"GET"/ {print $4}') "
	done
	local get pk red one ch
	get=$(median ${tps[cache_get]})
	pk=$(median ${tps[pk_select]})
	red=$(median ${tps[redis_get]})
	one=$(median ${tps[select1]})
	ch=$(median ${tps[cached_hit]})
	echo "cache.config: clients=8 threads=2 seconds=$secs rounds=$rounds"
	echo "cache.cache_get_tps_runs: ${tps[cache_get]% }"
	echo "cache.pk_select_tps_runs: ${tps[pk_select]% }"
	echo "cache.redis_get_rps_runs: ${tps[redis_get]% }"
	echo "cache.cache_get_tps: $get"
	echo "cache.pk_select_tps: $pk"
	echo "cache.redis_get_rps: $red"
	echo "cache.select1_tps_runs: ${tps[select1]% }"
	echo "cache.cached_hit_tps_runs: ${tps[cached_hit]% }"
	echo "cache.select1_tps: $one"
	echo "cache.cached_hit_tps: $ch"
	echo "cache.cache_get_vs_select1.ratio: $(awk -v a="$get" -v b="$one" 'BEGIN {printf "%.2f", a / b}')"
	echo "cache.cached_hit_vs_select1.ratio: $(awk -v a="$ch" -v b="$one" 'BEGIN {printf "%.2f", a / b}')"

	# single-client latency, median of every transaction
	pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -n \
		-M prepared -T "$secs" -c 1 -f "$BENCH_DIR/get.sql" -l --log-prefix="$BENCH_DIR/lat" \
		bench >/dev/null 2>&1
	local lat
	lat=$(cat "$BENCH_DIR"/lat.* | awk '{print $3}' | sort -n |
		awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)] / 1000}')
	echo "cache.cache_get_median_latency_ms: $lat"

	# what counting hits and misses costs
	declare -A st
	for r in $(seq 1 "$rounds"); do
		for mode in on off; do
			st[$mode]+="$(PGOPTIONS="-c perfkit.cache_track_stats=$mode" \
				bench_pgbench -M prepared -T "$secs" -c 8 -j 2 -f "$BENCH_DIR/get.sql") "
		done
	done

	# cached() on the demo's dashboard query
	bench_psql -v vehicles=100 -v hours=3 -v days=1 <"$PK_TOP/test/demo/sample_data.sql" >/dev/null
	local q="SELECT v.fleet, count(*) AS samples, round(avg(t.speed_kmh)::numeric, 2) AS avg_speed, max(t.battery_temp_c) AS max_temp FROM telemetry t JOIN vehicles v ON v.id = t.vehicle_id WHERE t.status = 'ACTIVE' GROUP BY v.fleet ORDER BY v.fleet"
	printf '%s;\n' "$q" >"$BENCH_DIR/direct.sql"
	printf "SELECT perfkit.cached('%s', '{}', '1 hour');\n" "${q//\'/\'\'}" >"$BENCH_DIR/cached.sql"
	chown "$(pk_run_user)" "$BENCH_DIR"/*.sql
	local direct cachedms
	direct=$(pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -n \
		-t 5 -c 1 -f "$BENCH_DIR/direct.sql" bench 2>&1 | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
	cachedms=$(pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -n \
		-T "$secs" -c 1 -f "$BENCH_DIR/cached.sql" bench 2>&1 | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
	echo "cache.dashboard_direct_ms: $direct"
	echo "cache.dashboard_cached_hit_ms: $cachedms"

	echo "cache.cache_get_vs_pk_select.ratio: $(awk -v a="$get" -v b="$pk" 'BEGIN {printf "%.2f", a / b}')"
	echo "cache.cache_get_vs_redis_get.ratio: $(awk -v a="$get" -v b="$red" 'BEGIN {printf "%.2f", a / b}')"
	echo "cache.cached_hit_vs_direct.ratio: $(awk -v a="$direct" -v b="$cachedms" 'BEGIN {printf "%.0f", a / b}')"
	echo "cache.track_stats_on_tps_runs: ${st[on]% }"
	echo "cache.track_stats_off_tps_runs: ${st[off]% }"
	echo "cache.track_stats_on_vs_off.ratio: $(awk -v a="$(median ${st[on]})" -v b="$(median ${st[off]})" 'BEGIN {printf "%.3f", a / b}')"
}
