# cache: the result cache against what apps use instead, and against the
# floor of anything reached through SQL.
#
# The workloads (pgbench -M prepared; the key or id is a parameter):
#   select1     SELECT 1: the cheapest round trip through SQL, the floor.
#   cache_get   SELECT perfkit.cache_get($1): hits, keys '1' .. '100000',
#               each holding to_jsonb(abalance) of that pgbench_accounts row.
#   pk_select   SELECT abalance FROM pgbench_accounts WHERE aid = $1, aid in
#               1 .. 100000: the same rows and the same value, by its primary
#               key (pgbench_accounts, scale 10: 1,000,000 rows of about
#               100 bytes, 128 MB, all in shared_buffers after a warm-up).
#               Both return one int4-sized number as text on the wire.
#   cache_get_object  as cache_get, the value {"abalance": n} (what apps
#               store; keys '1000001' .. '1100000'; informational).
#   cached_hit  SELECT perfkit.cached('SELECT abalance FROM pgbench_accounts
#               WHERE aid = $1', ARRAY[$1], '1 day'): hits of a one-row
#               query, 1,000 parameter sets warmed with cache_warm().
#   redis_get   redis-server's GET, redis-benchmark -c 8 -P 1 (no
#               pipelining), on the same machine.
#
# Parts (BENCH_PARTS, default all of "floor instructions latency stats
# dashboard"):
#   floor         the workloads above, 8 clients, 2 threads, alternating
#                 over BENCH_ROUNDS rounds of BENCH_SECONDS; for each run
#                 TPS and the server's CPU per transaction (user + system
#                 time of the backends, from the postmaster's reaped
#                 children in /proc, divided by the transactions) and the
#                 pgbench client's.  Ratios are medians of the rounds'
#                 ratios (min and max printed too).  Targets: cache_get
#                 >= 0.9x select1, cached_hit >= 0.8x select1, cache_get
#                 >= 1.3x pk_select, cache_get >= 0.7x redis_get (TPS).
#   instructions  CPU instructions per transaction of the backend
#                 (valgrind --tool=callgrind on the postmaster and its
#                 backends, one pgbench client, BENCH_STATEMENTS and then
#                 twice as many transactions; the difference, divided, is
#                 the cost of one without connection and startup).  Not
#                 disturbed by other load on the machine.
#   latency       cache_get median latency, one client.  Target: < 0.1 ms.
#   stats         cache_get TPS with perfkit.cache_track_stats on and off,
#                 alternating.  Target: the counted run >= 0.95x.
#   dashboard     cached() hit vs running the demo's dashboard query (an
#                 aggregate over 1.08 million telemetry rows).  Target:
#                 >= 1000x.
#
# redis-server, redis-tools and valgrind are installed for this benchmark
# only; perfkit depends on none of them.

cache_load() {	# cache_load N: keys 1..N as the workloads read them
	bench_psql -c "SELECT count(perfkit.cache_set(aid::text, to_jsonb(abalance), '1 day')) FROM pgbench_accounts WHERE aid <= $1" \
		-c "SELECT count(perfkit.cache_set((1000000 + aid)::text, jsonb_build_object('abalance', abalance), '1 day')) FROM pgbench_accounts WHERE aid <= $1" \
		-c "SELECT perfkit.cache_warm(ARRAY['SELECT abalance FROM pgbench_accounts WHERE aid = \$1'], '1 day', (SELECT jsonb_agg(jsonb_build_array(i::text)) FROM generate_series(1, 1000) i))" \
		>/dev/null
}

cache_scripts() {	# cache_scripts N: the workloads' pgbench scripts, ids 1..N
	local n=$1
	printf 'SELECT 1;\n' >"$BENCH_DIR/select1.sql"
	printf '\\set aid random(1, %d)\nSELECT perfkit.cache_get(:aid);\n' "$n" >"$BENCH_DIR/cache_get.sql"
	printf '\\set aid random(1000001, %d)\nSELECT perfkit.cache_get(:aid);\n' $((1000000 + n)) \
		>"$BENCH_DIR/cache_get_object.sql"
	printf '\\set aid random(1, %d)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n' "$n" \
		>"$BENCH_DIR/pk_select.sql"
	printf '\\set aid random(1, %d)\nSELECT perfkit.cached('"'"'SELECT abalance FROM pgbench_accounts WHERE aid = $1'"'"', ARRAY[:aid], '"'"'1 day'"'"');\n' \
		"$(( n < 1000 ? n : 1000 ))" >"$BENCH_DIR/cached_hit.sql"
	chown "$(pk_run_user)" "$BENCH_DIR"/*.sql
}

# cache_pgbench SCRIPT: one run of 8 clients; prints "tps backend_us client_us"
# (CPU microseconds per transaction of the backends and of pgbench).
cache_pgbench() {
	local pm a b out n tps cl
	pm=$(head -n 1 "$BENCH_DATA/postmaster.pid")
	a=$(awk '{print $16 + $17}' "/proc/$pm/stat")
	out=$( (pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -n \
		-M prepared -T "$secs" -c 8 -j 2 -f "$BENCH_DIR/$1.sql" bench 2>&1; times) )
	sleep 0.5	# the backends exit and are reaped
	b=$(awk '{print $16 + $17}' "/proc/$pm/stat")
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | tail -n 1)
	# times: the children's user and system time, on its last line
	cl=$(tail -n 1 <<<"$out" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] } print t }')
	awk -v tps="$tps" -v n="$n" -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" -v cl="$cl" \
		'BEGIN {printf "%.0f %.2f %.2f", tps, (b - a) / hz * 1e6 / n, cl * 1e6 / n}'
}

# ratio_line NAME TARGET "r1 r2 ...": median, min and max of round ratios
ratio_line() {
	local name=$1 target=$2
	shift 2
	printf '%s: %s (rounds %s; min %s, max %s; target %s)\n' "$name" "$(median $*)" "$*" \
		"$(printf '%s\n' $* | sort -g | head -n 1)" "$(printf '%s\n' $* | sort -g | tail -n 1)" "$target"
}

cache_floor() {
	local r w rport
	local works="select1 cache_get pk_select cached_hit cache_get_object"
	declare -A tps cpu cl rat

	rport=$(pk_free_port 6390)
	pk_as_user redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize yes --pidfile "$BENCH_DIR/redis.pid" --logfile "$BENCH_DIR/redis.log" \
		--dir "$BENCH_DIR"
	for _ in $(seq 1 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
	redis-benchmark -p "$rport" -c 8 -n 200000 -r 100000 -t set -q >/dev/null

	secs=3 cache_pgbench pk_select >/dev/null	# warm the buffers
	for r in $(seq 1 "$rounds"); do
		declare -A this=()
		# swapped order every other round, against drift
		local order=$works
		[ $((r % 2)) -eq 0 ] && order=$(printf '%s\n' $works | tac | tr '\n' ' ')
		for w in $order; do
			read -r t c k <<<"$(cache_pgbench "$w")"
			this[$w]=$t
			tps[$w]+="$t "
			cpu[$w]+="$c "
			cl[$w]+="$k "
			this[$w.cpu]=$c
		done
		this[redis]=$(redis-benchmark -p "$rport" -c 8 -n $((secs * 100000)) -r 100000 \
			-t get -P 1 --csv 2>/dev/null | awk -F'"' '/^"GET"/ {print $4}')
		tps[redis]+="${this[redis]} "
		rr() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
		rat[get_one]+="$(rr "${this[cache_get]}" "${this[select1]}") "
		rat[cached_one]+="$(rr "${this[cached_hit]}" "${this[select1]}") "
		rat[get_pk]+="$(rr "${this[cache_get]}" "${this[pk_select]}") "
		rat[get_redis]+="$(rr "${this[cache_get]}" "${this[redis]}") "
		rat[obj_one]+="$(rr "${this[cache_get_object]}" "${this[select1]}") "
		# server CPU: the baseline's microseconds over the workload's
		rat[cpu_get_one]+="$(rr "${this[select1.cpu]}" "${this[cache_get.cpu]}") "
		rat[cpu_cached_one]+="$(rr "${this[select1.cpu]}" "${this[cached_hit.cpu]}") "
		rat[cpu_get_pk]+="$(rr "${this[pk_select.cpu]}" "${this[cache_get.cpu]}") "
	done
	kill "$(cat "$BENCH_DIR/redis.pid")" 2>/dev/null || true

	echo "cache.config: clients=8 threads=2 seconds=$secs rounds=$rounds load=$(cut -d' ' -f1-3 /proc/loadavg)"
	for w in $works; do
		echo "cache.$w: tps $(median ${tps[$w]}) (runs ${tps[$w]% }); backend CPU $(median ${cpu[$w]}) us/txn (runs ${cpu[$w]% }); pgbench CPU $(median ${cl[$w]}) us/txn"
	done
	echo "cache.redis_get: per second $(median ${tps[redis]}) (runs ${tps[redis]% })"
	ratio_line cache.cache_get_vs_select1.tps_ratio ">= 0.9" ${rat[get_one]}
	ratio_line cache.cached_hit_vs_select1.tps_ratio ">= 0.8" ${rat[cached_one]}
	ratio_line cache.cache_get_vs_pk_select.tps_ratio ">= 1.3" ${rat[get_pk]}
	ratio_line cache.cache_get_vs_redis_get.ratio ">= 0.7" ${rat[get_redis]}
	ratio_line cache.cache_get_object_vs_select1.tps_ratio "informational" ${rat[obj_one]}
	ratio_line cache.cache_get_vs_select1.cpu_ratio "informational: select1 CPU / cache_get CPU" ${rat[cpu_get_one]}
	ratio_line cache.cached_hit_vs_select1.cpu_ratio "informational" ${rat[cpu_cached_one]}
	ratio_line cache.cache_get_vs_pk_select.cpu_ratio "informational: pk_select CPU / cache_get CPU" ${rat[cpu_get_pk]}
}

cache_instructions() {
	local n=${BENCH_STATEMENTS:-5000} cg="$BENCH_DIR/callgrind" w
	declare -A per

	pk_require_packages valgrind
	pk_as_user "$PK_BINDIR/pg_ctl" -D "$BENCH_DATA" -m fast -w stop >/dev/null
	mkdir -p "$cg"
	chown "$(pk_run_user)" "$cg"
	pk_as_user valgrind --tool=callgrind --trace-children=yes \
		--callgrind-out-file="$cg/cg.%p" "$PK_BINDIR/postgres" -D "$BENCH_DATA" \
		>"$BENCH_DIR/valgrind.log" 2>&1 &
	for _ in $(seq 1 300); do
		pk_as_user "$PK_BINDIR/pg_isready" -q -h "$BENCH_DIR" -p "$BENCH_PORT" && break
		sleep 0.5
	done
	cache_load 10000
	cache_scripts 10000
	sleep 3	# the loading backend's profile is written
	# instr SCRIPT T: instructions of the backend that ran T transactions,
	# the largest of the profiles written since (a backend's is written
	# when it exits)
	instr() {
		local before f i best=0 t
		before=$(ls "$cg")
		pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -n \
			-M prepared -c 1 -t "$2" -f "$BENCH_DIR/$1.sql" bench >/dev/null 2>&1
		for i in $(seq 1 50); do
			sleep 0.5
			for f in $(comm -13 <(echo "$before") <(ls "$cg")); do
				t=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$cg/$f")
				[ -n "$t" ] && [ "$t" -gt "$best" ] && best=$t
			done
			[ "$best" -gt 0 ] && break
		done
		sleep 1
		for f in $(comm -13 <(echo "$before") <(ls "$cg")); do
			t=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$cg/$f")
			[ -n "$t" ] && [ "$t" -gt "$best" ] && best=$t
			rm -f "$cg/$f"
		done
		echo "$best"
	}
	for w in select1 cache_get pk_select cached_hit cache_get_object; do
		local one two
		one=$(instr "$w" "$n")
		two=$(instr "$w" $((2 * n)))
		per[$w]=$(( (two - one) / n ))
		echo "cache.$w.instructions_per_txn: ${per[$w]}"
	done
	pk_as_user "$PK_BINDIR/pg_ctl" -D "$BENCH_DATA" -m fast -w stop >/dev/null
	echo "cache.cache_get_vs_select1.instruction_ratio: $(awk -v a="${per[select1]}" -v b="${per[cache_get]}" 'BEGIN {printf "%.3f", a / b}') (select1 / cache_get)"
	echo "cache.cached_hit_vs_select1.instruction_ratio: $(awk -v a="${per[select1]}" -v b="${per[cached_hit]}" 'BEGIN {printf "%.3f", a / b}')"
	echo "cache.cache_get_vs_pk_select.instruction_ratio: $(awk -v a="${per[pk_select]}" -v b="${per[cache_get]}" 'BEGIN {printf "%.3f", a / b}') (pk_select / cache_get)"
	bench_restart
	cache_load 100000
	cache_scripts 100000
}

cache_latency() {
	pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -n \
		-M prepared -T "$secs" -c 1 -f "$BENCH_DIR/cache_get.sql" -l --log-prefix="$BENCH_DIR/lat" \
		bench >/dev/null 2>&1
	echo "cache.cache_get_median_latency_ms: $(cat "$BENCH_DIR"/lat.* | awk '{print $3}' | sort -n |
		awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)] / 1000}') (target < 0.1)"
	rm -f "$BENCH_DIR"/lat.*
}

cache_stats_cost() {
	local r mode
	declare -A st
	for r in $(seq 1 "$rounds"); do
		for mode in on off; do
			st[$mode]+="$(PGOPTIONS="-c perfkit.cache_track_stats=$mode" \
				bench_pgbench -n -M prepared -T "$secs" -c 8 -j 2 -f "$BENCH_DIR/cache_get.sql") "
		done
	done
	echo "cache.track_stats_on_tps_runs: ${st[on]% }"
	echo "cache.track_stats_off_tps_runs: ${st[off]% }"
	echo "cache.track_stats_on_vs_off.ratio: $(awk -v a="$(median ${st[on]})" -v b="$(median ${st[off]})" 'BEGIN {printf "%.3f", a / b}') (target >= 0.95)"
}

cache_dashboard() {
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
	echo "cache.cached_hit_vs_direct.ratio: $(awk -v a="$direct" -v b="$cachedms" 'BEGIN {printf "%.0f", a / b}') (target >= 1000)"
}

bench_main() {
	local secs=${BENCH_SECONDS:-10} rounds=${BENCH_ROUNDS:-3}
	local parts=" ${BENCH_PARTS:-floor instructions latency stats dashboard} "

	pk_require_packages redis-server redis-tools
	bench_conf "shared_preload_libraries = 'perfkit'" "perfkit.cache_size = '256MB'" \
		"max_connections = 50"
	bench_restart
	trap 'kill "$(cat "$BENCH_DIR/redis.pid" 2>/dev/null)" 2>/dev/null || true; pk_cluster_stop "$BENCH_DIR"; rm -rf "$BENCH_DIR"' EXIT
	pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres \
		-i -q -s 10 bench >/dev/null 2>&1
	bench_psql -c "CREATE EXTENSION perfkit"
	cache_load 100000
	cache_scripts 100000
	# the same value three ways
	bench_psql -At -c "SELECT 'cache.check: cache_get(''7'') = ' || perfkit.cache_get('7')::text || ', PK SELECT = ' || (SELECT abalance FROM pgbench_accounts WHERE aid = 7)::text || ', cached() = ' || perfkit.cached('SELECT abalance FROM pgbench_accounts WHERE aid = \$1', ARRAY['7'], '1 day')::text"

	case $parts in *" floor "*) cache_floor ;; esac
	case $parts in *" instructions "*) cache_instructions ;; esac
	case $parts in *" latency "*) cache_latency ;; esac
	case $parts in *" stats "*) cache_stats_cost ;; esac
	case $parts in *" dashboard "*) cache_dashboard ;; esac
	bench_psql -At -c "SELECT 'cache.stats: hits ' || hits || ', misses ' || misses FROM perfkit.cache_stats()"
}
