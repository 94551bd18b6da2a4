# test/bench/trigger_floor.sh: what PostgreSQL 15's trigger machinery
# alone costs a writing statement, the floor under any trigger-based
# change capture (issue 14's capture targets are ratios against no
# trigger at all).
#
# A C trigger that only reads the row's time column
# (test/bench/trigger_floor/trigger_floor.c, built here, not part of
# perfkit) on tables shaped like the rollup benchmark's ingest table
# (four columns, a btree on the time column):
#   plain      no trigger (the baseline)
#   before     BEFORE INSERT ... FOR EACH ROW
#   after      AFTER INSERT ... FOR EACH ROW
#   statement  AFTER INSERT ... REFERENCING NEW TABLE ... FOR EACH STATEMENT
#   before4    the BEFORE ROW insert trigger plus statement triggers for
#              UPDATE (OLD and NEW tables), DELETE (OLD table) and a BEFORE
#              TRUNCATE one: a full capture set where inserts go by row
# CPU instructions (callgrind) of a single-user backend running N and then
# 2N autocommit statements, as the rollup benchmark's capture part counts
# them: single-row INSERT (N = 1000), 100-row INSERT ... SELECT (N = 100)
# and COPY of a 1,000-row CSV file (N = 20: a BEFORE row trigger makes
# COPY insert row by row instead of in batches).  Prints instructions per
# statement and without / with.

bench_main() {
	pk_require_packages valgrind
	local build="$BENCH_DIR/trigger_floor"
	mkdir -p "$build"
	cp "$PK_TOP/test/bench/trigger_floor/trigger_floor.c" "$build/"
	printf 'MODULES = trigger_floor\nPGXS := $(shell $(PG_CONFIG) --pgxs)\ninclude $(PGXS)\n' >"$build/Makefile"
	make -s -C "$build" PG_CONFIG="$PK_PG_CONFIG" >/dev/null
	chmod -R a+rX "$build"
	bench_psql <<SQL
CREATE FUNCTION trigger_floor() RETURNS trigger LANGUAGE c AS '$build/trigger_floor.so', 'trigger_floor';
CREATE TABLE t_plain (ts timestamptz NOT NULL, vehicle int, region text, km numeric);
CREATE TABLE t_before (LIKE t_plain);
CREATE TABLE t_after (LIKE t_plain);
CREATE TABLE t_statement (LIKE t_plain);
CREATE TABLE t_before4 (LIKE t_plain);
CREATE INDEX ON t_plain (ts);
CREATE INDEX ON t_before (ts);
CREATE INDEX ON t_after (ts);
CREATE INDEX ON t_statement (ts);
CREATE INDEX ON t_before4 (ts);
CREATE TRIGGER b BEFORE INSERT ON t_before FOR EACH ROW EXECUTE FUNCTION trigger_floor();
CREATE TRIGGER a AFTER INSERT ON t_after FOR EACH ROW EXECUTE FUNCTION trigger_floor();
CREATE TRIGGER s AFTER INSERT ON t_statement REFERENCING NEW TABLE AS n
	FOR EACH STATEMENT EXECUTE FUNCTION trigger_floor();
CREATE TRIGGER b BEFORE INSERT ON t_before4 FOR EACH ROW EXECUTE FUNCTION trigger_floor();
CREATE TRIGGER u AFTER UPDATE ON t_before4 REFERENCING OLD TABLE AS o NEW TABLE AS n
	FOR EACH STATEMENT EXECUTE FUNCTION trigger_floor();
CREATE TRIGGER d AFTER DELETE ON t_before4 REFERENCING OLD TABLE AS o
	FOR EACH STATEMENT EXECUTE FUNCTION trigger_floor();
CREATE TRIGGER t BEFORE TRUNCATE ON t_before4 FOR EACH STATEMENT EXECUTE FUNCTION trigger_floor();
SQL
	pk_as_user "$PK_BINDIR/pg_ctl" -D "$BENCH_DATA" -m fast -w stop >/dev/null
	cp -a "$BENCH_DATA" "$BENCH_DIR/snapshot"
	awk 'BEGIN { for (i = 1; i <= 1000; i++)
		printf "2026-01-01 00:00:00+00,%d,region-%d,%d.5\n", i % 500, i % 12, i % 97 }' >"$BENCH_DIR/rows.csv"
	chmod a+r "$BENCH_DIR/rows.csv"
	stmts() {	# stmts KIND TABLE N
		awk -v k="$1" -v t="$2" -v n="$3" -v f="$BENCH_DIR/rows.csv" 'BEGIN { for (i = 1; i <= n; i++) if (k == "copy")
			printf "COPY t_%s FROM '"'"'%s'"'"' (FORMAT csv)\n", t, f; else if (k == "one")
			printf "INSERT INTO t_%s VALUES (clock_timestamp(), %d, '"'"'region-%d'"'"', %d.5)\n", t, i % 500, i % 12, i % 97;
			else printf "INSERT INTO t_%s SELECT clock_timestamp(), g %% 500, '"'"'region-'"'"' || g %% 12, g / 10.0 FROM generate_series(1, 100) g\n", t }'
	}
	instructions() {	# instructions KIND TABLE N
		stmts "$@" >"$BENCH_DIR/stmts.sql"
		bench_instructions "$BENCH_DIR/snapshot" "$BENCH_DIR/stmts.sql" -- synchronous_commit=off
	}
	local kind tbl n one two
	for kind in one hundred copy; do
		declare -A per=()
		n=1000
		[ "$kind" = hundred ] && n=100
		[ "$kind" = copy ] && n=20
		for tbl in plain before after statement before4; do
			one=$(instructions "$kind" "$tbl" "$n")
			two=$(instructions "$kind" "$tbl" $((2 * n)))
			per[$tbl]=$(( (two - one) / n ))
		done
		echo "trigger_floor_${kind}_instructions_per_statement: plain ${per[plain]}, before ${per[before]}, after ${per[after]}, statement ${per[statement]}, before4 ${per[before4]}"
		for tbl in before after statement before4; do
			echo "trigger_floor_${kind}_${tbl}.ratio (without / with): $(awk -v a="${per[plain]}" -v b="${per[$tbl]}" 'BEGIN {printf "%.3f", a / b}')"
		done
	done
	rm -rf "$BENCH_DATA"
	cp -a "$BENCH_DIR/snapshot" "$BENCH_DATA"
	bench_restart
}
