#!/usr/bin/env bash
# Cache soak: pgbench with 16 clients for PERFKIT_SOAK_SECONDS (60) mixing
# cache_get, cache_set, cache_invalidate, cached() and writes to the table
# cached() reads, on a 4MB cache so that eviction runs all the time.
#
# Passes when pgbench ends with no client aborted and no failed
# transaction, bytes_used <= bytes_total, and every cached() result
# afterwards equals the query run directly (nothing stale survived).
# Needs perfkit installed (make test runs it after installing).
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

secs=${PERFKIT_SOAK_SECONDS:-60}
dir=$(pk_workdir soak)
port=$(pk_free_port 5699)
trap 'pk_cluster_stop "$dir"; rm -rf "$dir"' EXIT
cd "$dir"

pk_cluster_create "$dir" "$port" "shared_preload_libraries = 'perfkit'" \
	"perfkit.cache_size = '4MB'" "max_connections = 40" "synchronous_commit = off"
psql=("$PK_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres)

pk_as_user "${psql[@]}" <<'SQL' || pk_die "soak setup failed"
CREATE EXTENSION perfkit;
CREATE TABLE soak (g int NOT NULL, v int NOT NULL);
INSERT INTO soak SELECT i % 10, i FROM generate_series(1, 10000) i;
CREATE INDEX ON soak (g);
SQL

cat >"$dir/soak.sql" <<'PGB'
\set k random(1, 4000)
\set r random(1, 100)
\set g random(0, 9)
SELECT perfkit.cache_get('soak:' || :k);
SELECT perfkit.cache_set('soak:' || :k, jsonb_build_object('v', :r, 'pad', repeat('x', :r * 40)), '3 seconds');
SELECT perfkit.cached('SELECT count(*) AS n, sum(v) AS s FROM soak WHERE g = $1', ARRAY[:g::text]);
\if :r <= 3
SELECT perfkit.cache_invalidate('soak:' || :k || '%');
\endif
\if :r <= 20
INSERT INTO soak VALUES (:g, :r);
\endif
\if :r = 100
DELETE FROM soak WHERE g = :g AND v = 100;
\endif
PGB
chown "$(pk_run_user)" "$dir/soak.sql"

pk_say "cache soak: 16 clients for $secs s"
pk_as_user "$PK_BINDIR/pgbench" -h "$dir" -p "$port" -U postgres -n -c 16 -j 2 \
	-T "$secs" -f "$dir/soak.sql" postgres >"$dir/pgbench.log" 2>&1
rc=$?
grep -E "^(number of (transactions|failed)|tps)" "$dir/pgbench.log"
aborted=$(grep -c "aborted" "$dir/pgbench.log")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/pgbench.log")

check=$(pk_as_user "${psql[@]}" -At <<'SQL'
SELECT 'bounded=' || (bytes_used <= bytes_total) || ' entries=' || entries
	   || ' evictions=' || evictions || ' hits=' || hits || ' misses=' || misses
FROM perfkit.cache_stats();
SELECT 'stale=' || count(*) FILTER (WHERE c IS DISTINCT FROM d)
FROM (SELECT g,
			 perfkit.cached('SELECT count(*) AS n, sum(v) AS s FROM soak WHERE g = $1',
							ARRAY[g::text]) AS c,
			 (SELECT jsonb_agg(x) FROM (SELECT count(*) AS n, sum(v) AS s FROM soak s
										 WHERE s.g = gs.g) x) AS d
	  FROM generate_series(0, 9) gs(g)) t;
SQL
)
echo "$check"
if [ "$rc" -ne 0 ] || [ "$aborted" -ne 0 ] || [ "${failed:-0}" -ne 0 ] ||
	! grep -q "bounded=true" <<<"$check" || ! grep -q "stale=0" <<<"$check"; then
	tail -n 20 "$dir/pgbench.log"
	echo "soak: FAILED (pgbench exit $rc, $aborted aborted clients, ${failed:-0} failed transactions)"
	exit 1
fi
echo "soak: ok"
