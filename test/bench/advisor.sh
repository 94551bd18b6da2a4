# advisor: the index advisor against planted missing indexes, against a
# dexter-style greedy baseline, and what workload capture costs.
#
# 1. Quality.  A fleet schema of 8 tables (1M telemetry rows, 500k trips,
#    ...), a monthly-partitioned table of 400k sensor readings and
#    Supabase's book/author/publisher/review tables (200k books, 400k
#    reviews), with 13 planted missing indexes, one or more of every kind
#    (btree, multi-column equality-then-range, ORDER BY ... LIMIT, partial
#    on a state, partial on IS NOT NULL, BRIN, text_pattern_ops, on a
#    partitioned table's parent, on join columns only), and
#    negative controls (tiny tables, non-selective predicates, a column led
#    by an existing composite, an insert-heavy table, primary-key lookups).
#    The workload, 57 query shapes with different call counts, is captured
#    with perfkit.advisor_sample_rate = 1; recommend_indexes() then runs
#    with its defaults but max_indexes = 20 (13 are planted).  Recall = planted indexes recommended / planted;
#    precision = recommendations that are planted / recommendations.
#    A recommendation matches a planted index when table, method and
#    partial-or-not are the same and its key columns (with operator class)
#    start with the planted ones: (driver_id, km) serves what (driver_id)
#    would.  INCLUDE columns do not matter.  Targets: recall 100%,
#    precision >= 90%, recommend_indexes() < 2 s.
# 2. Baseline.  A dexter-style advisor on HypoPG (bench-only): per query,
#    hypothetical single-column indexes on every column the query names,
#    then also every two-column permutation; keep the indexes the cheaper
#    plan uses if it costs <= 50% of the original.  Both index sets are
#    then built for real, and the workload's weighted estimated cost and
#    EXPLAIN (ANALYZE, BUFFERS) shared buffers are measured without
#    indexes, with perfkit's and with the baseline's.  Target: perfkit's
#    reduction >= the baseline's.
# 3. Capture overhead on pgbench select-only (-M prepared, 4 clients):
#    perfkit.advisor_sample_rate at its default (0.05) against 0, both
#    with perfkit preloaded, alternating BENCH_ROUNDS rounds; median of
#    the rounds' TPS ratios.  Also CPU instructions per statement in a
#    single-user backend under callgrind (N and 2N statements, the
#    difference), which machine noise does not move; also at rate 1 for
#    the cost of a sampled statement, and at rate 0 with compute_query_id
#    off, for what computing query ids costs (perfkit calls EnableQueryId(),
#    so compute_query_id = auto computes them).  Target: >= 0.97.
#
# Settings: BENCH_SECONDS (10), BENCH_ROUNDS (5), BENCH_STATEMENTS (2000),
# BENCH_PARTS ("quality overhead": which parts to run).
# postgresql-15-hypopg is used by this benchmark only.

bench_main() {
	pk_require_packages postgresql-15-hypopg
	bench_conf "shared_preload_libraries = 'perfkit'" "max_parallel_workers_per_gather = 0" \
		"jit = off" "perfkit.advisor_max_queries = 5000"
	bench_restart
	case " ${BENCH_PARTS:-quality overhead} " in *" quality "*)
		advisor_schema
		advisor_capture
		advisor_quality
		;;
	esac
	case " ${BENCH_PARTS:-quality overhead} " in *" overhead "*) advisor_overhead ;; esac
}

advisor_schema() {
	bench_psql <<'SQL'
CREATE EXTENSION perfkit;
CREATE EXTENSION hypopg;

CREATE TABLE vehicles (id int PRIMARY KEY, fleet text, vin text, model text, active bool);
INSERT INTO vehicles SELECT g, 'fleet' || (g % 40), 'VIN' || lpad(g::text, 10, '0'),
	'model' || (g % 12), g % 10 <> 0 FROM generate_series(1, 20000) g;
CREATE TABLE drivers (id int PRIMARY KEY, email text, region text, license_expires date);
INSERT INTO drivers SELECT g, md5(g::text) || '@example.com', 'region' || (g % 8),
	'2025-01-01'::date + (g % 1000) FROM generate_series(1, 10000) g;
CREATE TABLE trips (id int PRIMARY KEY, vehicle_id int, driver_id int, started_at timestamptz,
	km float8, cancelled_reason text);
INSERT INTO trips SELECT g, (g * 7) % 500 + 1, (g * 13) % 10000 + 1,
	'2024-01-01'::timestamptz + ((g::bigint * 7919) % 500000) * interval '1 minute', (g % 300) / 3.0,
	CASE WHEN g % 331 = 0 THEN 'no-show' END
FROM generate_series(1, 500000) g;
CREATE TABLE telemetry (id bigint PRIMARY KEY, vehicle_id int, recorded_at timestamptz,
	status text, speed int, engine_rpm int, battery_temp float8);
INSERT INTO telemetry SELECT g, g % 200 + 1, '2024-01-01'::timestamptz + g * interval '3 seconds',
	CASE WHEN g % 200 = 0 THEN 'FAULT' WHEN g % 40 = 0 THEN 'WARN' ELSE 'OK' END,
	(g * 31) % 130, (g::bigint * 7919) % 5000, 20 + (g % 300) / 10.0
FROM generate_series(1, 1000000) g;
CREATE TABLE stations (id int PRIMARY KEY, city text, power_kw int);
INSERT INTO stations SELECT g, 'city' || (g % 50), 50 + g % 300 FROM generate_series(1, 500) g;
CREATE TABLE charging_sessions (id int PRIMARY KEY, vehicle_id int, station_id int,
	started_at timestamptz, kwh float8);
INSERT INTO charging_sessions SELECT g, (g * 11) % 20000 + 1, (g * 17) % 500 + 1,
	'2024-01-01'::timestamptz + ((g::bigint * 104729) % 200000) * interval '5 minutes', g % 80
FROM generate_series(1, 200000) g;
CREATE INDEX charging_vehicle_started ON charging_sessions (vehicle_id, started_at);
CREATE TABLE alerts (id int PRIMARY KEY, vehicle_id int, kind int, created_at timestamptz, payload text);
INSERT INTO alerts SELECT g, g % 20000 + 1, g % 300, now(), 'p' FROM generate_series(1, 50000) g;
CREATE TABLE maintenance_types (id int PRIMARY KEY, name text);
INSERT INTO maintenance_types SELECT g, 'type' || g FROM generate_series(1, 20) g;
-- a time-partitioned table (monthly, as perfkit's partition sets make)
CREATE TABLE sensor_readings (sensor_id int, recorded_at timestamptz, value float8)
	PARTITION BY RANGE (recorded_at);
CREATE TABLE sensor_readings_2024_01 PARTITION OF sensor_readings FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE sensor_readings_2024_02 PARTITION OF sensor_readings FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
CREATE TABLE sensor_readings_2024_03 PARTITION OF sensor_readings FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
CREATE TABLE sensor_readings_2024_04 PARTITION OF sensor_readings FOR VALUES FROM ('2024-04-01') TO ('2024-05-01');
INSERT INTO sensor_readings SELECT g % 500 + 1, '2024-01-01'::timestamptz + g * interval '25 seconds', g % 97
FROM generate_series(1, 400000) g;
-- join-heavy: Supabase index_advisor's book, author, publisher, review
CREATE TABLE publishers (id int PRIMARY KEY, name text);
INSERT INTO publishers SELECT g, 'p' || g FROM generate_series(1, 1000) g;
CREATE TABLE authors (id int PRIMARY KEY, name text);
INSERT INTO authors SELECT g, 'a' || g FROM generate_series(1, 10000) g;
CREATE TABLE books (id int PRIMARY KEY, title text, author_id int REFERENCES authors,
	publisher_id int REFERENCES publishers);
INSERT INTO books SELECT g, 't' || g, g % 10000 + 1, (g * 7) % 1000 + 1 FROM generate_series(1, 200000) g;
CREATE TABLE reviews (id int PRIMARY KEY, book_id int REFERENCES books, rating int, body text);
INSERT INTO reviews SELECT g, (g * 13) % 200000 + 1, g % 5 + 1, 'r' || g FROM generate_series(1, 400000) g;
VACUUM ANALYZE;
SQL
}

# The workload: "calls|query" lines; the driver runs each query calls
# times, with sampling at 1.
advisor_workload() {
	cat <<'W'
8|SELECT * FROM trips WHERE driver_id = 4242
4|SELECT count(*), sum(km) FROM trips WHERE driver_id = 17
3|SELECT t.id, t.km FROM trips t JOIN drivers d ON d.id = t.driver_id WHERE d.id = 99
10|SELECT * FROM telemetry WHERE vehicle_id = 77 AND recorded_at >= '2024-01-20' AND recorded_at < '2024-01-21'
10|SELECT * FROM telemetry WHERE vehicle_id = 123 ORDER BY recorded_at DESC LIMIT 20
5|SELECT avg(speed) FROM telemetry WHERE vehicle_id = 5 AND recorded_at > '2024-01-15'
4|SELECT max(battery_temp) FROM telemetry WHERE vehicle_id = 9
3|SELECT recorded_at, speed FROM telemetry WHERE vehicle_id = 9 AND recorded_at BETWEEN '2024-01-02' AND '2024-01-03' ORDER BY recorded_at
6|SELECT * FROM telemetry WHERE status = 'FAULT' ORDER BY recorded_at DESC LIMIT 50
3|SELECT count(*) FROM telemetry WHERE status = 'FAULT' AND recorded_at > '2024-02-01'
2|SELECT vehicle_id, recorded_at FROM telemetry WHERE status = 'FAULT' AND recorded_at BETWEEN '2024-01-05' AND '2024-01-06'
3|SELECT date_trunc('day', recorded_at), avg(speed) FROM telemetry WHERE recorded_at >= '2024-01-10' AND recorded_at < '2024-01-31' GROUP BY 1
3|SELECT avg(battery_temp) FROM telemetry WHERE recorded_at BETWEEN '2024-01-15' AND '2024-02-01'
2|SELECT max(engine_rpm) FROM telemetry WHERE recorded_at >= '2024-01-18' AND recorded_at < '2024-02-04'
8|SELECT * FROM charging_sessions WHERE station_id = 42 ORDER BY started_at DESC LIMIT 10
3|SELECT started_at, kwh FROM charging_sessions WHERE station_id = 7 AND started_at > '2024-06-01' ORDER BY started_at
6|SELECT * FROM drivers WHERE email LIKE 'abc%'
3|SELECT id, region FROM drivers WHERE email LIKE 'ff0%'
5|SELECT * FROM trips WHERE cancelled_reason IS NOT NULL ORDER BY started_at DESC LIMIT 50
2|SELECT count(*) FROM trips WHERE cancelled_reason IS NOT NULL AND started_at > '2024-06-01'
9|SELECT * FROM vehicles WHERE vin = 'VIN0000012345'
3|SELECT id, model FROM vehicles WHERE vin IN ('VIN0000000001', 'VIN0000000002')
6|SELECT * FROM trips WHERE vehicle_id = 321 AND started_at >= '2024-03-01' AND started_at < '2024-04-01'
4|SELECT sum(km) FROM trips WHERE vehicle_id = 88 AND started_at > '2024-05-01'
2|SELECT v.vin, t.started_at FROM trips t JOIN vehicles v ON v.id = t.vehicle_id WHERE t.vehicle_id = 55 AND t.started_at > '2024-02-01'
5|SELECT * FROM maintenance_types WHERE name = 'type7'
3|SELECT count(*) FROM maintenance_types WHERE id > 3
4|SELECT count(*) FROM telemetry WHERE status = 'OK'
2|SELECT avg(speed) FROM telemetry WHERE speed > 10
6|SELECT * FROM charging_sessions WHERE vehicle_id = 1234
4|SELECT * FROM charging_sessions WHERE vehicle_id = 99 AND started_at > '2024-03-01'
2|SELECT * FROM alerts WHERE kind = 7
1|SELECT count(*) FROM alerts WHERE vehicle_id = 5
10|SELECT * FROM vehicles WHERE id = 42
10|SELECT * FROM trips WHERE id = 4242
6|SELECT * FROM telemetry WHERE id = 999
4|SELECT * FROM drivers WHERE id = 7
3|SELECT * FROM stations WHERE city = 'city3'
3|SELECT count(*) FROM stations WHERE power_kw > 100
3|SELECT count(*) FROM vehicles WHERE active
2|SELECT fleet, count(*) FROM vehicles GROUP BY fleet
2|SELECT region, count(*) FROM drivers GROUP BY region
2|SELECT count(*) FROM trips WHERE km > 5
2|SELECT s.city, sum(c.kwh) FROM charging_sessions c JOIN stations s ON s.id = c.station_id GROUP BY s.city
3|SELECT * FROM stations WHERE id = 17
2|SELECT model, count(*) FROM vehicles WHERE active GROUP BY model
2|SELECT count(*) FROM drivers WHERE license_expires > '2025-06-01'
3|SELECT id FROM maintenance_types ORDER BY name LIMIT 3
2|SELECT count(*) FROM alerts WHERE created_at > now() - interval '1 day'
2|SELECT count(*) FROM trips WHERE driver_id = 5 AND km > 50
8|SELECT * FROM sensor_readings WHERE sensor_id = 42 AND recorded_at >= '2024-02-03' AND recorded_at < '2024-02-04'
4|SELECT avg(value) FROM sensor_readings WHERE sensor_id = 7 AND recorded_at >= '2024-03-01' AND recorded_at < '2024-03-08'
2|SELECT count(*) FROM sensor_readings WHERE recorded_at >= '2024-01-01' AND recorded_at < '2024-03-01'
6|SELECT b.title, a.name, r.rating, r.body FROM books b JOIN authors a ON a.id = b.author_id JOIN reviews r ON r.book_id = b.id WHERE a.id = 42
4|SELECT b.title, p.name FROM books b JOIN publishers p ON p.id = b.publisher_id WHERE p.name = 'p7'
3|SELECT avg(r.rating) FROM reviews r JOIN books b ON b.id = r.book_id WHERE b.author_id = 77
2|SELECT count(*) FROM books
W
}

# Planted: table:method:key columns:partial (what a correct advisor proposes).
advisor_planted() {
	cat <<'P'
trips:btree:driver_id:
telemetry:btree:vehicle_id, recorded_at:
telemetry:btree:recorded_at:partial
telemetry:brin:recorded_at:
charging_sessions:btree:station_id, started_at:
drivers:btree:email text_pattern_ops:
trips:btree:started_at:partial
vehicles:btree:vin:
trips:btree:vehicle_id, started_at:
sensor_readings:btree:sensor_id, recorded_at:
books:btree:author_id:
reviews:btree:book_id:
books:btree:publisher_id:
P
}

advisor_capture() {
	local calls query i
	{
		echo "SELECT perfkit.workload_reset();"
		echo "SET perfkit.advisor_sample_rate = 1;"
		while IFS='|' read -r calls query; do
			for i in $(seq 1 "$calls"); do echo "$query;"; done
		done < <(advisor_workload)
		# the insert-heavy table: 2000 single-row inserts
		for i in $(seq 1 2000); do
			echo "INSERT INTO alerts VALUES ($((100000 + i)), $((i % 20000 + 1)), $((i % 300)), now(), 'p');"
		done
	} >"$BENCH_DIR/workload.sql"
	chown "$(pk_run_user)" "$BENCH_DIR/workload.sql"
	bench_psql -f "$BENCH_DIR/workload.sql" >/dev/null
	bench_psql -c "VACUUM ANALYZE"
}

advisor_quality() {
	local shapes
	shapes=$(advisor_workload | wc -l)
	advisor_planted | bench_psql -c "CREATE TABLE planted (key text PRIMARY KEY)" \
		-c "COPY planted FROM STDIN"
	advisor_workload | sed 's/|/\t/' | bench_psql \
		-c "CREATE TABLE shapes (calls int, query text)" -c "COPY shapes FROM STDIN"
	bench_psql <<'SQL'
-- the key a statement is judged by
CREATE FUNCTION index_key(stmt text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT m[1] || ':' || m[2] || ':' || m[3] || ':' || CASE WHEN stmt ~ ' WHERE ' THEN 'partial' ELSE '' END
	FROM regexp_match(stmt, 'ON (?:ONLY )?(?:public\.)?(\w+) USING (\w+) \(([^)]*)\)') m
$$;
-- a recommendation serves a planted index when it is on the same table,
-- with the same method and partial-ness, and its key columns start with
-- the planted ones (a composite that extends them serves what they serve)
CREATE FUNCTION serves(rec text, planted text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT split_part(rec, ':', 1) = split_part(planted, ':', 1)
	   AND split_part(rec, ':', 2) = split_part(planted, ':', 2)
	   AND split_part(rec, ':', 4) = split_part(planted, ':', 4)
	   AND (split_part(rec, ':', 3) || ', ') LIKE (split_part(planted, ':', 3) || ', %')
$$;

-- dexter-style: per query, single columns, then plus two-column
-- permutations; keep what the cheaper plan uses if it halves the cost
CREATE FUNCTION plan_cost(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE p json;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO p;
	RETURN (p -> 0 -> 'Plan' ->> 'Total Cost')::float8;
END $$;
CREATE FUNCTION used_hypo(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE p jsonb;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO p;
	RETURN QUERY SELECT DISTINCT hypopg_get_indexdef(h.indexrelid)
	FROM hypopg_list_indexes h
	WHERE h.index_name IN (SELECT jsonb_path_query(p, 'strict $.**."Index Name"') #>> '{}');
END $$;
CREATE FUNCTION dexter(q text) RETURNS SETOF text LANGUAGE plpgsql
SET client_min_messages = warning AS $$
DECLARE
	base float8; c1 float8; c2 float8; used1 text[]; used2 text[];
	cols record; pair record;
BEGIN
	PERFORM hypopg_reset();
	base := plan_cost(q);
	CREATE TEMP TABLE IF NOT EXISTS qcols (tbl text, col text);
	TRUNCATE qcols;
	INSERT INTO qcols
	SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
	  AND c.relname NOT IN ('planted', 'shapes', 'qcols')
	  AND a.attnum > 0 AND NOT a.attisdropped
	  AND q ~ ('\m' || c.relname || '\M') AND q ~ ('\m' || a.attname || '\M')
	  -- dexter drops candidates an existing index already leads with
	  AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum);
	FOR cols IN SELECT * FROM qcols ORDER BY 1, 2 LOOP
		PERFORM hypopg_create_index(format('CREATE INDEX ON %I (%I)', cols.tbl, cols.col));
	END LOOP;
	c1 := plan_cost(q);
	used1 := ARRAY(SELECT used_hypo(q));
	FOR pair IN SELECT a.tbl, a.col AS c1, b.col AS c2 FROM qcols a JOIN qcols b
				ON a.tbl = b.tbl AND a.col <> b.col ORDER BY 1, 2, 3 LOOP
		PERFORM hypopg_create_index(format('CREATE INDEX ON %I (%I, %I)', pair.tbl, pair.c1, pair.c2));
	END LOOP;
	c2 := plan_cost(q);
	used2 := ARRAY(SELECT used_hypo(q));
	PERFORM hypopg_reset();
	IF least(c1, c2) <= base * 0.5 THEN
		RETURN QUERY SELECT unnest(CASE WHEN c2 < c1 THEN used2 ELSE used1 END);
	END IF;
END $$;
SQL
	local t0 t1 perfkit_ms
	t0=$(date +%s%N)
	bench_psql -c "CREATE TABLE perfkit_set AS SELECT * FROM perfkit.recommend_indexes(max_indexes => 20)"
	t1=$(date +%s%N)
	perfkit_ms=$(( (t1 - t0) / 1000000 ))
	bench_psql -c "CREATE TABLE dexter_set AS SELECT DISTINCT dexter(query) AS index_statement FROM shapes"

	echo "advisor.workload: $shapes query shapes over 14 tables, $(bench_psql -At -c "SELECT count(*) FROM perfkit.workload WHERE database = 'bench'") captured statements"
	echo "advisor.recommend_indexes_ms: $perfkit_ms (target < 2000)"
	bench_psql -At -F ' | ' -c "SELECT kind, index_statement, round(improvement::numeric, 3), queries, write_overhead FROM perfkit_set" |
		sed 's/^/advisor.perfkit_recommends: /'
	bench_psql -At -c "SELECT index_statement FROM dexter_set ORDER BY 1" | sed 's/^/advisor.baseline_recommends: /'
	local who
	for who in perfkit dexter; do
		bench_psql -At -F ' ' -c "
			WITH r AS (SELECT DISTINCT index_key(index_statement) k FROM ${who}_set)
			SELECT 'advisor.${who}.recall: ' || round(100.0 * (SELECT count(*) FROM planted WHERE EXISTS (SELECT FROM r WHERE serves(k, key))) / (SELECT count(*) FROM planted), 1) || '%',
				   '(' || (SELECT count(*) FROM planted WHERE EXISTS (SELECT FROM r WHERE serves(k, key))) || '/' || (SELECT count(*) FROM planted) || ')'
			UNION ALL
			SELECT 'advisor.${who}.precision: ' || coalesce(round(100.0 * (SELECT count(*) FROM r WHERE EXISTS (SELECT FROM planted WHERE serves(k, key))) / nullif((SELECT count(*) FROM r), 0), 1), 0) || '%',
				   '(' || (SELECT count(*) FROM r WHERE EXISTS (SELECT FROM planted WHERE serves(k, key))) || '/' || (SELECT count(*) FROM r) || ')'"
	done
	bench_psql -At -c "SELECT 'advisor.missed: ' || key FROM planted WHERE NOT EXISTS (SELECT FROM perfkit_set WHERE serves(index_key(index_statement), key))"
	bench_psql -At -c "SELECT 'advisor.not_planted: ' || index_statement FROM perfkit_set WHERE NOT EXISTS (SELECT FROM planted WHERE serves(index_key(index_statement), key))"

	# the workload's weighted cost and buffers with each set, built for real
	bench_psql <<'SQL'
CREATE TABLE measure (config text, cost float8, buffers float8, ms float8, bytes bigint);
CREATE PROCEDURE measure_workload(config text, bytes bigint) LANGUAGE plpgsql AS $$
DECLARE s record; p json; c float8 := 0; b float8 := 0; t float8 := 0;
BEGIN
	FOR s IN SELECT * FROM shapes LOOP
		EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || s.query INTO p;
		c := c + s.calls * (p -> 0 -> 'Plan' ->> 'Total Cost')::float8;
		b := b + s.calls * ((p -> 0 -> 'Plan' ->> 'Shared Hit Blocks')::float8
							+ (p -> 0 -> 'Plan' ->> 'Shared Read Blocks')::float8);
		t := t + s.calls * (p -> 0 ->> 'Execution Time')::float8;
	END LOOP;
	INSERT INTO measure VALUES (config, c, b, t, bytes);
END $$;
CREATE PROCEDURE with_set(config text, tbl text) LANGUAGE plpgsql AS $$
DECLARE s text; made text[] := '{}'; n int := 0; sz bigint := 0;
BEGIN
	FOR s IN EXECUTE format('SELECT index_statement FROM %I ORDER BY 1', tbl) LOOP
		n := n + 1;
		-- a partitioned table's script: its first statement, without ONLY
		-- (CREATE INDEX on the parent then builds every partition's)
		s := replace(split_part(s, E';\n', 1), ' ON ONLY ', ' ON ');
		EXECUTE format('CREATE INDEX bench_idx_%s ON %s', n,
					   regexp_replace(regexp_replace(s, '^CREATE INDEX (CONCURRENTLY )?(\S+ )?ON ', ''), '^', ''));
		made := made || format('bench_idx_%s', n);
	END LOOP;
	ANALYZE;
	SELECT coalesce(sum(pg_relation_size(i::regclass)), 0) INTO sz FROM unnest(made) i;
	CALL measure_workload(config, sz);
	FOREACH s IN ARRAY made LOOP
		EXECUTE format('DROP INDEX %I', s);
	END LOOP;
END $$;
CALL measure_workload('none', 0);
CALL with_set('perfkit', 'perfkit_set');
CALL with_set('dexter', 'dexter_set');
SQL
	bench_psql -At -c "
		SELECT 'advisor.' || m.config || '.workload_cost: ' || round(m.cost::numeric) ||
			   ' (reduction ' || round(100 * (1 - m.cost / n.cost)::numeric, 1) || '%), buffers: ' ||
			   round(m.buffers::numeric) || ' (reduction ' || round(100 * (1 - m.buffers / n.buffers)::numeric, 1) ||
			   '%), execution_ms: ' || round(m.ms::numeric, 1) || ', index_bytes: ' || pg_size_pretty(m.bytes)
		FROM measure m, measure n WHERE n.config = 'none' ORDER BY m.config = 'none' DESC, m.config"
	bench_psql -At -c "
		SELECT 'advisor.cost_reduction_ratio_vs_baseline: ' ||
			   round(((1 - p.cost / n.cost) / nullif(1 - d.cost / n.cost, 0))::numeric, 3),
			   ' buffers_reduction_ratio_vs_baseline: ' ||
			   round(((1 - p.buffers / n.buffers) / nullif(1 - d.buffers / n.buffers, 0))::numeric, 3)
		FROM measure p, measure d, measure n
		WHERE p.config = 'perfkit' AND d.config = 'dexter' AND n.config = 'none'"
}

# Capture overhead: TPS and instructions, sampling at default vs off.
advisor_overhead() {
	local secs=${BENCH_SECONDS:-10} rounds=${BENCH_ROUNDS:-5} r cfg order
	local on_tps="" off_tps="" ratios=""
	declare -A this
	pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres \
		-i -q -s 10 bench >/dev/null 2>&1
	for r in $(seq 1 "$rounds"); do
		if [ $((r % 2)) -eq 1 ]; then order="off on"; else order="on off"; fi
		for cfg in $order; do
			if [ "$cfg" = on ]; then
				bench_psql -c "ALTER SYSTEM RESET perfkit.advisor_sample_rate"
			else
				bench_psql -c "ALTER SYSTEM SET perfkit.advisor_sample_rate = 0"
			fi
			bench_psql -c "SELECT pg_reload_conf()" >/dev/null
			sleep 1
			bench_pgbench -S -M prepared -T 2 -c 4 -j 2 >/dev/null
			this[$cfg]=$(bench_pgbench -S -M prepared -T "$secs" -c 4 -j 2)
		done
		on_tps+="${this[on]} "
		off_tps+="${this[off]} "
		ratios+="$(awk -v a="${this[on]}" -v b="${this[off]}" 'BEGIN {printf "%.3f", a / b}') "
	done
	echo "advisor.capture.config: pgbench -S -M prepared scale=10 clients=4 seconds=$secs rounds=$rounds"
	echo "advisor.capture.off_tps: $(median $off_tps)"
	echo "advisor.capture.default_rate_tps: $(median $on_tps)"
	echo "advisor.capture.round_ratios: ${ratios% }"
	echo "advisor.capture.tps_ratio: $(median $ratios) (target >= 0.97)"
	advisor_instructions
}

# instructions RATE N: instructions of a single-user backend running N
# pgbench select-only statements with the given sample rate.
advisor_instr_run() {
	awk -v n="$2" 'BEGIN { srand(42); for (i = 0; i < n; i++)
		print "SELECT abalance FROM pgbench_accounts WHERE aid = " int(rand() * 1000000) + 1 ";" }' \
		>"$BENCH_DIR/stmts.sql"
	bench_instructions "$BENCH_DIR/snapshot" "$BENCH_DIR/stmts.sql" -- shared_preload_libraries=perfkit \
		perfkit.advisor_sample_rate="$1" compute_query_id="${3:-auto}"
}

advisor_instructions() {
	local n=${BENCH_STATEMENTS:-2000} rate one two
	declare -A per
	command -v valgrind >/dev/null || { echo "advisor.capture.instructions: skipped (no valgrind)"; return; }
	bench_psql -c "ALTER SYSTEM RESET perfkit.advisor_sample_rate"
	pk_as_user "$PK_BINDIR/pg_ctl" -D "$BENCH_DATA" -m fast -w stop >/dev/null
	cp -a "$BENCH_DATA" "$BENCH_DIR/snapshot"
	for rate in 0 0.05 1; do
		one=$(advisor_instr_run "$rate" "$n")
		two=$(advisor_instr_run "$rate" $((2 * n)))
		per[$rate]=$(( (two - one) / n ))
		echo "advisor.capture.instructions_per_statement.rate_$rate: ${per[$rate]}"
	done
	# what computing query ids costs (perfkit turns them on for capture)
	one=$(advisor_instr_run 0 "$n" off)
	two=$(advisor_instr_run 0 $((2 * n)) off)
	per[noqid]=$(( (two - one) / n ))
	echo "advisor.capture.instructions_per_statement.rate_0_compute_query_id_off: ${per[noqid]}"
	echo "advisor.capture.instructions_ratio_query_id: $(awk -v a="${per[noqid]}" -v b="${per[0.05]}" \
		'BEGIN {printf "%.4f", a / b}') (no query ids, no capture / rate 0.05)"
	echo "advisor.capture.instructions_ratio: $(awk -v a="${per[0]}" -v b="${per[0.05]}" \
		'BEGIN {printf "%.4f", a / b}') (rate 0 / rate 0.05; target >= 0.97)"
	echo "advisor.capture.instructions_ratio_rate_1: $(awk -v a="${per[0]}" -v b="${per[1]}" \
		'BEGIN {printf "%.4f", a / b}') (every statement sampled)"
}
