#!/usr/bin/env bash
# Conversion soak: convert_to_partitioned() of a 200,000-row table with a
# primary key while 3 pgbench clients insert, update, delete and move rows
# (changing the partition key) for PERFKIT_SOAK_SECONDS (60, at most 60
# here), each write made to a reference table in the same transaction.
#
# At the same time, a table shaped as applications have them (a 100,000-row
# table with a bigserial primary key without the time column and two user
# triggers: a BEFORE row trigger deriving v2 = v * 2, an AFTER row trigger
# auditing inserts) and a daily perfkit rollup (count, sum, min) is
# converted with unique_keys => 'extend' while the same clients write it
# through its sequence.
#
# Passes when both conversions end, pgbench had no failed transaction, each
# converted table holds exactly its reference table's rows (EXCEPT ALL
# both ways is empty): no row lost, doubled or stale; the bigserial one has
# PRIMARY KEY (id, ts), its triggers, every written row derived, an audit
# row for every row the clients inserted, and none for a row the
# conversion copied (once partitioned, an UPDATE that moves a row to
# another partition fires the INSERT trigger too, as PostgreSQL does: the
# rows moved are allowed in the audit); after the swap and one refresh,
# the rollup's materialized buckets and its live view equal GROUP BY over
# the raw rows, and no change was counted inexact.
# Needs perfkit installed (make test runs it after installing).
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

secs=${PERFKIT_SOAK_SECONDS:-60}
[ "$secs" -le 60 ] || secs=60
dir=$(pk_workdir soak-convert)
port=$(pk_free_port 5739)
trap 'pk_cluster_stop "$dir"; rm -rf "$dir"' EXIT
cd "$dir"

pk_cluster_create "$dir" "$port" "shared_preload_libraries = 'perfkit'" \
	"max_connections = 20" "synchronous_commit = off" "perfkit.max_conversion_workers = 3"
psql=("$PK_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres)

pk_as_user "${psql[@]}" <<'SQL' || pk_die "soak setup failed"
CREATE EXTENSION perfkit;
CREATE TABLE st (id int NOT NULL, ts timestamptz NOT NULL, v int, PRIMARY KEY (id, ts));
INSERT INTO st SELECT g, now() - (g % 300) * interval '1 day', g FROM generate_series(1, 200000) g;
DELETE FROM st WHERE id % 7 = 0;
VACUUM ANALYZE st;
CREATE TABLE st_ref AS SELECT * FROM st;
CREATE INDEX ON st_ref (id);
CREATE TABLE bs (id bigserial PRIMARY KEY, ts timestamptz NOT NULL, v int, v2 int);
INSERT INTO bs (ts, v) SELECT now() - (g % 200) * interval '1 day', g FROM generate_series(1, 100000) g;
VACUUM ANALYZE bs;
CREATE TABLE bs_ref AS SELECT * FROM bs;
CREATE INDEX ON bs_ref (id);
CREATE TABLE bs_ins (id bigint);
CREATE TABLE bs_audit (id bigint);
CREATE TABLE bs_moved (id bigint);
CREATE FUNCTION bs_derive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.v2 := NEW.v * 2; RETURN NEW; END $$;
CREATE FUNCTION bs_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO bs_audit VALUES (NEW.id); RETURN NULL; END $$;
CREATE TRIGGER bs_derive BEFORE INSERT OR UPDATE ON bs FOR EACH ROW EXECUTE FUNCTION bs_derive();
CREATE TRIGGER bs_audit AFTER INSERT ON bs FOR EACH ROW EXECUTE FUNCTION bs_audit();
SELECT perfkit.create_rollup('bs_daily', 'bs', 'ts', 'day', '{}',
							 ARRAY['count(*) AS n', 'sum(v) AS total', 'min(v) AS low'], 'UTC');
DO $$ BEGIN PERFORM perfkit.refresh_rollup('bs_daily'); END $$;
SQL

cat >"$dir/mix.sql" <<'PGB'
\set id random(1, 220000)
\set op random(1, 4)
BEGIN;
\if :op = 1
INSERT INTO st VALUES (:id + 300000, timestamptz '2026-11-01' - (:id % 200) * interval '1 day', 1) ON CONFLICT DO NOTHING;
INSERT INTO st_ref SELECT :id + 300000, timestamptz '2026-11-01' - (:id % 200) * interval '1 day', 1
WHERE NOT EXISTS (SELECT FROM st_ref WHERE id = :id + 300000);
\elif :op = 2
UPDATE st SET v = v + 1 WHERE id = :id;
UPDATE st_ref SET v = v + 1 WHERE id = :id;
\elif :op = 3
DELETE FROM st WHERE id = :id;
DELETE FROM st_ref WHERE id = :id;
\else
UPDATE st SET ts = ts - interval '3 days' WHERE id = :id;
UPDATE st_ref SET ts = ts - interval '3 days' WHERE id = :id;
\endif
\if :op = 1
WITH i AS (INSERT INTO bs (ts, v) VALUES (timestamptz '2026-11-01' - (:id % 150) * interval '1 day', :id) RETURNING *),
	 r AS (INSERT INTO bs_ref SELECT * FROM i)
INSERT INTO bs_ins SELECT id FROM i;
\elif :op = 2
WITH u AS (UPDATE bs SET v = v + 1 WHERE id = :id RETURNING *)
UPDATE bs_ref r SET v = u.v, v2 = u.v2 FROM u WHERE r.id = u.id;
\elif :op = 3
DELETE FROM bs WHERE id = :id;
DELETE FROM bs_ref WHERE id = :id;
\else
WITH u AS (UPDATE bs SET ts = ts - interval '3 days' WHERE id = :id RETURNING *),
	 r AS (UPDATE bs_ref r SET ts = u.ts, v = u.v, v2 = u.v2 FROM u WHERE r.id = u.id)
INSERT INTO bs_moved SELECT id FROM u;
\endif
COMMIT;
PGB
chown "$(pk_run_user)" "$dir/mix.sql"

pk_say "conversion soak: 3 writers for $secs s, conversion in batches of 5,000 rows"
pk_as_user "$PK_BINDIR/pgbench" -h "$dir" -p "$port" -U postgres -n -c 3 -j 1 \
	-T "$secs" -f "$dir/mix.sql" postgres >"$dir/pgbench.log" 2>&1 &
bench=$!
sleep 1
pk_as_user "${psql[@]}" -c "SET client_min_messages = warning" \
	-c "SELECT perfkit.convert_to_partitioned('bs', 'ts', '1 month', 5000, unique_keys => 'extend')" \
	>"$dir/convert_bs.log" 2>&1 &
conv_bs_pid=$!
pk_as_user "${psql[@]}" -c "SET client_min_messages = warning" \
	-c "SELECT perfkit.convert_to_partitioned('st', 'ts', '1 month', 5000)" >"$dir/convert.log" 2>&1
conv=$?
wait "$conv_bs_pid"
conv_bs=$?
wait "$bench"
grep -E "^(number of (transactions|failed)|tps)" "$dir/pgbench.log"
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/pgbench.log")

check=$(pk_as_user "${psql[@]}" -At -c "
SELECT 'relkind=' || (SELECT relkind::text FROM pg_class WHERE oid = 'st'::regclass)
	   || ' rows=' || (SELECT count(*) FROM st) || ' ref=' || (SELECT count(*) FROM st_ref)
	   || ' only_converted=' || (SELECT count(*) FROM (SELECT * FROM st EXCEPT ALL SELECT * FROM st_ref) x)
	   || ' only_ref=' || (SELECT count(*) FROM (SELECT * FROM st_ref EXCEPT ALL SELECT * FROM st) x)")
echo "$check"
if [ "$conv" -ne 0 ]; then
	cat "$dir/convert.log"
	pk_die "the conversion failed"
fi
[ "${failed:-1}" -eq 0 ] || pk_die "pgbench had failed transactions"
case "$check" in
	"relkind=p rows="*" only_converted=0 only_ref=0") ;;
	*) pk_die "the converted table differs from the reference" ;;
esac
[ "$(echo "$check" | sed 's/.* rows=\([0-9]*\) ref=\([0-9]*\) .*/\1 \2/' | awk '{print ($1 == $2)}')" = 1 ] ||
	pk_die "row counts differ"

check_bs=$(pk_as_user "${psql[@]}" -At -c "
SELECT 'relkind=' || (SELECT relkind::text FROM pg_class WHERE oid = 'bs'::regclass)
	   || ' rows=' || (SELECT count(*) FROM bs) || ' ref=' || (SELECT count(*) FROM bs_ref)
	   || ' only_converted=' || (SELECT count(*) FROM (SELECT * FROM bs EXCEPT ALL SELECT * FROM bs_ref) x)
	   || ' only_ref=' || (SELECT count(*) FROM (SELECT * FROM bs_ref EXCEPT ALL SELECT * FROM bs) x)
	   || ' not_derived=' || (SELECT count(*) FROM bs WHERE id > 100000 AND v2 IS DISTINCT FROM v * 2)
	   || ' inserts_not_audited=' || (SELECT count(*) FROM (SELECT id FROM bs_ins EXCEPT SELECT id FROM bs_audit) x)
	   || ' audited_not_written=' || (SELECT count(*) FROM (SELECT id FROM bs_audit EXCEPT
							(SELECT id FROM bs_ins UNION SELECT id FROM bs_moved)) x)
	   || ' inserted=' || (SELECT count(*) FROM bs_ins)
	   || ' pkey=' || (SELECT replace(pg_get_constraintdef(oid), ' ', '') FROM pg_constraint
						WHERE conrelid = 'bs'::regclass AND contype = 'p')
	   || ' triggers=' || (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'bs'::regclass AND NOT tgisinternal
						   AND tgfoid <> 'perfkit._rollup_capture()'::regprocedure)")
echo "$check_bs"
if [ "$conv_bs" -ne 0 ]; then
	cat "$dir/convert_bs.log"
	pk_die "the conversion of the bigserial table failed"
fi
case "$check_bs" in
	"relkind=p rows="*" only_converted=0 only_ref=0 not_derived=0 inserts_not_audited=0 audited_not_written=0 inserted="*" pkey=PRIMARYKEY(id,ts) triggers=2") ;;
	*) pk_die "the converted bigserial table differs from the reference" ;;
esac

# the rollup after the swap and one refresh, against GROUP BY over the raw rows
check_rollup=$(pk_as_user "${psql[@]}" -At <<'SQL'
SET client_min_messages = warning;
DO $$ BEGIN PERFORM perfkit.refresh_rollup('bs_daily'); END $$;
WITH d AS (SELECT date_trunc('day', ts, 'UTC') AS bucket, count(*) AS n, sum(v) AS total, min(v) AS low
		   FROM bs GROUP BY 1),
	 w AS (SELECT watermark AS w FROM perfkit.rollups WHERE name = 'bs_daily')
SELECT 'materialized=' || (SELECT count(*) FROM bs_daily)
	   || ' mismatches=' || (SELECT count(*) FROM ((TABLE bs_daily EXCEPT ALL SELECT * FROM d WHERE bucket < (SELECT w FROM w))
												   UNION ALL (SELECT * FROM d WHERE bucket < (SELECT w FROM w) EXCEPT ALL TABLE bs_daily)) x)
	   || ' live_mismatches=' || (SELECT count(*) FROM ((TABLE bs_daily_live EXCEPT ALL TABLE d)
														UNION ALL (TABLE d EXCEPT ALL TABLE bs_daily_live)) x)
	   || ' inexact=' || (SELECT inexact_changes FROM perfkit.rollups WHERE name = 'bs_daily')
	   || ' source=' || (SELECT source::text FROM perfkit.rollups WHERE name = 'bs_daily');
SQL
)
echo "$check_rollup"
case "$check_rollup" in
	*"materialized="[1-9]*" mismatches=0 live_mismatches=0 inexact=0 source=bs") ;;
	*) pk_die "the rollup of the converted table differs from GROUP BY over its rows" ;;
esac
pk_say "conversion soak passed"
