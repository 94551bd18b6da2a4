#!/usr/bin/env bash
# Rollup soak: for PERFKIT_SOAK_SECONDS (60), 6 writers insert current and
# late rows (up to 90 days old) into a partitioned table, through the
# parent and straight into partitions, and update and delete late rows,
# while the rollups job runs over and over (CALL perfkit.refresh_rollups()
# in a loop of its own).  Three rollups: hourly, daily built on the hourly
# one, and daily from raw rows in Europe/Berlin.
#
# Passes when no client aborted, and after one more refresh every rollup
# equals GROUP BY over the raw rows on the buckets it has materialized,
# with no change counted as inexact (nothing is frozen: none may be).
# Needs perfkit installed (make test runs it after installing).
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

secs=${PERFKIT_SOAK_SECONDS:-60}
dir=$(pk_workdir soak-rollup)
port=$(pk_free_port 5719)
trap 'pk_cluster_stop "$dir"; rm -rf "$dir"' EXIT
cd "$dir"

pk_cluster_create "$dir" "$port" "shared_preload_libraries = 'perfkit'" \
	"max_connections = 40" "synchronous_commit = off" "timezone = 'UTC'"
psql=("$PK_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres)

pk_as_user "${psql[@]}" >/dev/null <<'SQL' || pk_die "soak setup failed"
SET client_min_messages = warning;
CREATE EXTENSION perfkit;
CREATE TABLE soak_src (ts timestamptz NOT NULL, k int NOT NULL, v int NOT NULL) PARTITION BY RANGE (ts);
DO $$
DECLARE m timestamptz;
BEGIN
	FOR i IN -1 .. 4 LOOP
		m := date_trunc('month', now(), 'UTC') - i * interval '1 month';
		EXECUTE format('CREATE TABLE %I PARTITION OF soak_src FOR VALUES FROM (%L) TO (%L)',
					   'soak_src_' || (i + 1), m, m + interval '1 month');
	END LOOP;
END
$$;
CREATE INDEX ON soak_src (ts);
INSERT INTO soak_src SELECT now() - i * interval '97 seconds', i % 10, i % 1000
FROM generate_series(0, 100000) i;
-- A write straight into the partition that holds ts (the writers' way of
-- writing into partitions without knowing their names).
CREATE FUNCTION soak_into_partition(t timestamptz, k int, v int) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
	EXECUTE format('INSERT INTO %s VALUES ($1, $2, $3)',
				   (SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
					WHERE i.inhparent = 'soak_src'::regclass
					  AND t >= (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']*)'''))[1]::timestamptz
					  AND t < (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']*)'''))[1]::timestamptz))
		USING t, k, v;
END
$f$;
SELECT perfkit.create_rollup('soak_hourly', 'soak_src', 'ts', 'hour', ARRAY['k'],
	ARRAY['count(*)', 'sum(v)', 'min(v)', 'max(v)']);
SELECT perfkit.create_rollup('soak_daily', 'soak_hourly', 'bucket', 'day', ARRAY['k'],
	ARRAY['count(*)', 'sum(v)', 'min(v)', 'max(v)']);
SELECT perfkit.create_rollup('soak_berlin', 'soak_src', 'ts', 'day', '{}',
	ARRAY['count(*)', 'sum(v)', 'avg(v)'], 'Europe/Berlin');
CALL perfkit.refresh_rollups();
SQL

cat >"$dir/write.sql" <<'PGB'
\set r random(1, 100)
\set k random(0, 9)
\set v random(0, 999)
\set late random(0, 7776000)
\set now random(0, 120)
\if :r <= 40
INSERT INTO soak_src VALUES (now() - :now * interval '1 second', :k, :v);
\elif :r <= 65
INSERT INTO soak_src VALUES (now() - :late * interval '1 second', :k, :v);
\elif :r <= 80
SELECT soak_into_partition(now() - :late * interval '1 second', :k, :v);
\elif :r <= 85
SELECT soak_into_partition(now() - :now * interval '1 second', :k, :v);
\elif :r <= 95
UPDATE soak_src SET v = v + 1, k = (k + 1) % 10
WHERE ts >= now() - :late * interval '1 second' AND ts < now() - :late * interval '1 second' + interval '10 minutes';
\else
DELETE FROM soak_src
WHERE ts >= now() - :late * interval '1 second' AND ts < now() - :late * interval '1 second' + interval '5 minutes';
\endif
PGB
cat >"$dir/refresh.sql" <<'PGB'
CALL perfkit.refresh_rollups();
PGB
chown "$(pk_run_user)" "$dir/write.sql" "$dir/refresh.sql"

pk_say "rollup soak: 6 writers and the rollups job for $secs s"
PGOPTIONS='-c client_min_messages=warning' pk_as_user "$PK_BINDIR/pgbench" -h "$dir" -p "$port" -U postgres -n -c 1 \
	-T "$secs" -f "$dir/refresh.sql" postgres >"$dir/refresh.log" 2>&1 &
refresher=$!
pk_as_user "$PK_BINDIR/pgbench" -h "$dir" -p "$port" -U postgres -n -c 6 -j 2 \
	-T "$secs" -f "$dir/write.sql" postgres >"$dir/pgbench.log" 2>&1
rc=$?
wait "$refresher"
rrc=$?
grep -E "^(number of (transactions|failed)|tps)" "$dir/pgbench.log"
grep -E "^number of transactions actually" "$dir/refresh.log" | sed 's/^/refreshes: /'
aborted=$(cat "$dir/pgbench.log" "$dir/refresh.log" | grep -c "aborted")

check=$(pk_as_user "${psql[@]}" -At <<'SQL'
SET client_min_messages = warning;
CALL perfkit.refresh_rollups();
CALL perfkit.refresh_rollups();
SELECT 'pending=' || sum(pending_buckets) || ' inexact=' || sum(inexact_changes)
	   || ' errors=' || count(last_error) FROM perfkit.rollups;
SELECT 'differing=' || (
	(SELECT count(*) FROM (
		(SELECT * FROM soak_hourly EXCEPT
		 SELECT date_trunc('hour', ts, 'UTC'), k, count(*), sum(v), min(v), max(v) FROM soak_src
		 WHERE ts < (SELECT watermark FROM perfkit.rollups WHERE name = 'soak_hourly') GROUP BY 1, 2)
		UNION ALL
		(SELECT date_trunc('hour', ts, 'UTC'), k, count(*), sum(v), min(v), max(v) FROM soak_src
		 WHERE ts < (SELECT watermark FROM perfkit.rollups WHERE name = 'soak_hourly') GROUP BY 1, 2
		 EXCEPT SELECT * FROM soak_hourly)) x)
	+ (SELECT count(*) FROM (
		(SELECT * FROM soak_daily EXCEPT
		 SELECT date_trunc('day', ts, 'UTC'), k, count(*), sum(v), min(v), max(v) FROM soak_src
		 WHERE ts < (SELECT watermark FROM perfkit.rollups WHERE name = 'soak_daily') GROUP BY 1, 2)
		UNION ALL
		(SELECT date_trunc('day', ts, 'UTC'), k, count(*), sum(v), min(v), max(v) FROM soak_src
		 WHERE ts < (SELECT watermark FROM perfkit.rollups WHERE name = 'soak_daily') GROUP BY 1, 2
		 EXCEPT SELECT * FROM soak_daily)) x)
	+ (SELECT count(*) FROM (
		(SELECT * FROM soak_berlin EXCEPT
		 SELECT date_trunc('day', ts, 'Europe/Berlin'), count(*), sum(v), avg(v) FROM soak_src
		 WHERE ts < (SELECT watermark FROM perfkit.rollups WHERE name = 'soak_berlin') GROUP BY 1)
		UNION ALL
		(SELECT date_trunc('day', ts, 'Europe/Berlin'), count(*), sum(v), avg(v) FROM soak_src
		 WHERE ts < (SELECT watermark FROM perfkit.rollups WHERE name = 'soak_berlin') GROUP BY 1
		 EXCEPT SELECT * FROM soak_berlin)) x));
SELECT 'rows=' || count(*) FROM soak_src;
SQL
)
echo "$check"
if [ "$rc" -ne 0 ] || [ "$rrc" -ne 0 ] || [ "$aborted" -ne 0 ] ||
	! grep -q "differing=0" <<<"$check" || ! grep -q "pending=0 inexact=0 errors=0" <<<"$check"; then
	tail -n 20 "$dir/pgbench.log" "$dir/refresh.log"
	echo "soak: FAILED (pgbench exit $rc/$rrc, $aborted aborted clients)"
	exit 1
fi
echo "soak: ok"
