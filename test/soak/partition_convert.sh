#!/usr/bin/env bash
# Conversion soak: convert_to_partitioned() of a 200,000-row table with a
# primary key while 3 pgbench clients insert, update, delete and move rows
# (changing the partition key) for PERFKIT_SOAK_SECONDS (60, at most 60
# here), each write made to a reference table in the same transaction.
#
# Passes when the conversion ends, pgbench had no failed transaction, and
# the converted table holds exactly the reference table's rows (EXCEPT ALL
# both ways is empty): no row lost, doubled or stale.
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
	"max_connections = 20" "synchronous_commit = off"
psql=("$PK_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres)

pk_as_user "${psql[@]}" <<'SQL' || pk_die "soak setup failed"
CREATE EXTENSION perfkit;
CREATE TABLE st (id int NOT NULL, ts timestamptz NOT NULL, v int, PRIMARY KEY (id, ts));
INSERT INTO st SELECT g, now() - (g % 300) * interval '1 day', g FROM generate_series(1, 200000) g;
DELETE FROM st WHERE id % 7 = 0;
VACUUM ANALYZE st;
CREATE TABLE st_ref AS SELECT * FROM st;
CREATE INDEX ON st_ref (id);
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
COMMIT;
PGB
chown "$(pk_run_user)" "$dir/mix.sql"

pk_say "conversion soak: 3 writers for $secs s, conversion in batches of 5,000 rows"
pk_as_user "$PK_BINDIR/pgbench" -h "$dir" -p "$port" -U postgres -n -c 3 -j 1 \
	-T "$secs" -f "$dir/mix.sql" postgres >"$dir/pgbench.log" 2>&1 &
bench=$!
sleep 1
pk_as_user "${psql[@]}" -c "SET client_min_messages = warning" \
	-c "SELECT perfkit.convert_to_partitioned('st', 'ts', '1 month', 5000)" >"$dir/convert.log" 2>&1
conv=$?
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
pk_say "conversion soak passed"
