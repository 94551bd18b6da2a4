#!/usr/bin/env bash
# make test: perfkit's whole test suite, in one command.
#
# Installs what is missing, builds with -Wall -Wextra -Werror, installs,
# then runs four suites (about three minutes, one of it the soak), as an
# unprivileged user, each on its own temporary instance or cluster:
#   pg_regress            sql/*.sql against expected/*.out (test/schedule)
#   pg_isolation_regress  test/isolation/specs (test/isolation/schedule)
#   TAP (prove)           test/t/*.pl, for restarts, crashes, preloading
#   soak                  test/soak/*.sh (PERFKIT_SOAK_SECONDS each, 60)
# Prints the diffs of whatever failed, copies all output to test/results/,
# ends with "perfkit: N passed, N failed" and exits non-zero on failure.
#
# While developing, a subset (never in CI; an empty selection runs nothing):
#   PERFKIT_SUITES="regress isolation tap soak"  which suites (default all)
#   PERFKIT_REGRESS="install rollup"             these regress tests only
#   PERFKIT_ISOLATION="cache_commit_race"        these isolation specs only
#   PERFKIT_TAP="t/003_cache.pl"                 these TAP scripts only
#
# PERFKIT_VALGRIND=1 runs the pg_regress and isolation servers under
# valgrind memcheck (slow: minutes, not seconds) and fails on any error
# whose stack passes through perfkit.  Run it after touching shared memory
# or other C code.  TAP clusters are not run under valgrind.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$PK_TOP"

pk_require_packages $PK_PACKAGES $PK_TEST_PACKAGES
# the result cache's client test, test/t/003_cache_clients.pl
pk_require_packages python3-psycopg2 python3-psycopg

pk_say "building with -Wall -Wextra -Werror and installing"
pk_build_install WERROR=1

work=$(pk_workdir test)
cp -r sql expected test contrib "$work/"

# The upgrade test (test/t/011_upgrade.pl) compares a fresh install with
# the rooms' SQL sources loaded directly, and with every earlier release
# that src/updates/ updates from: copy the sources, numbered in the
# Makefile's order, and install those releases' scripts.
mkdir -p "$work/rooms/updates"
n=0
for f in $(make -s print-sql-rooms); do
	n=$((n + 1))
	cp "$f" "$work/rooms/$(printf '%02d' "$n")-$(basename "$f")"
done
cp src/updates/*.sql "$work/rooms/updates/" 2>/dev/null || true
extdir=$("$PK_PG_CONFIG" --sharedir)/extension
[ -n "${PERFKIT_PG_ROOT:-}" ] && extdir=$PERFKIT_PG_ROOT$extdir
bash test/upgrade/previous.sh "$extdir" || pk_die "cannot build the releases the upgrade test needs"
chown -R "$(pk_run_user)" "$work"
cd "$work"

passed=0
failed=0
suites=${PERFKIT_SUITES:-regress isolation tap soak}
want() { [[ " $suites " == *" $1 "* ]]; }
regress_sel=(--schedule="$work/test/schedule")
[ -n "${PERFKIT_REGRESS:-}" ] && regress_sel=($PERFKIT_REGRESS)
isolation_sel=(--schedule="$work/test/isolation/schedule")
[ -n "${PERFKIT_ISOLATION:-}" ] && isolation_sel=($PERFKIT_ISOLATION)
tap_sel=${PERFKIT_TAP:-t/*.pl}
failed_suites=()

# The servers' bindir: the real one, or a copy of it whose postgres runs
# under valgrind.  initdb resolves its own path and so bootstraps with the
# real postgres; pg_regress starts the wrapper.
bindir=$PK_BINDIR
if [ "${PERFKIT_VALGRIND:-0}" = 1 ]; then
	pk_require_packages valgrind
	bindir="$work/valgrind-bin"
	mkdir -p "$bindir" "$work/valgrind"
	for f in "$PK_BINDIR"/*; do ln -s "$f" "$bindir/"; done
	rm "$bindir/postgres"
	cat >"$bindir/postgres" <<WRAP
#!/bin/sh
exec valgrind --quiet --error-limit=no --leak-check=no --trace-children=no \\
	--suppressions=$work/test/valgrind.supp \\
	--log-file=$work/valgrind/%p.log "$PK_BINDIR/postgres" "\$@"
WRAP
	chmod +x "$bindir/postgres"
	chown -R "$(pk_run_user)" "$bindir" "$work/valgrind"
	pk_say "servers run under valgrind: expect several minutes"
fi

# count_results FILE: add pg_regress-style "... ok" / "... FAILED" lines.
count_results() {
	local ok bad
	ok=$(grep -cE '\.\.\. ok|^ok [0-9]' "$1" 2>/dev/null)
	bad=$(grep -cE '\.\.\. FAILED|^not ok [0-9]' "$1" 2>/dev/null)
	passed=$((passed + ok))
	failed=$((failed + bad))
}

if want regress; then
pk_say "pg_regress"
pk_as_user "$PK_PGXS/src/test/regress/pg_regress" \
	--bindir="$bindir" \
	--temp-instance="$work/tmp_regress" \
	--temp-config="$work/test/regress.conf" \
	--inputdir="$work" \
	--outputdir="$work/regress" \
	--dbname=contrib_regression \
	"${regress_sel[@]}" \
	2>&1 | tee "$work/regress.log"
rc=${PIPESTATUS[0]}
count_results "$work/regress.log"
[ "$rc" -eq 0 ] || failed_suites+=(regress)
fi

if want isolation; then
pk_say "pg_isolation_regress"
mkdir -p "$work/isolation" && chown "$(pk_run_user)" "$work/isolation"
pk_as_user "$PK_PGXS/src/test/isolation/pg_isolation_regress" \
	--bindir="$bindir" \
	--temp-instance="$work/tmp_isolation" \
	--temp-config="$work/test/isolation.conf" \
	--inputdir="$work/test/isolation" \
	--outputdir="$work/isolation" \
	--load-extension=pg_cron \
	--load-extension=perfkit \
	"${isolation_sel[@]}" \
	2>&1 | tee "$work/isolation.log"
rc=${PIPESTATUS[0]}
count_results "$work/isolation.log"
[ "$rc" -eq 0 ] || failed_suites+=(isolation)
fi

if [ "${PERFKIT_VALGRIND:-0}" = 1 ]; then
	pk_say "valgrind: errors whose stack passes through perfkit"
	vg_bad=0
	for log in "$work"/valgrind/*.log; do
		[ -s "$log" ] || continue
		if grep -q "perfkit" "$log"; then
			cat "$log"
			vg_bad=$((vg_bad + 1))
		fi
	done
	vg_all=$(cat "$work"/valgrind/*.log 2>/dev/null | grep -c '^==[0-9]*== [A-Z]')
	echo "valgrind: $vg_all error lines in all, $vg_bad process logs touching perfkit"
	if [ "$vg_bad" -gt 0 ]; then
		failed=$((failed + 1))
		failed_suites+=(valgrind)
	else
		passed=$((passed + 1))
	fi
fi

if want tap; then
pk_require_packages python3-psycopg	# t/006_advisor.pl's application client
pk_say "TAP (prove)"
mkdir -p "$work/tap" && chown "$(pk_run_user)" "$work/tap"
(cd "$work/test" &&
	pk_as_user env TESTDIR="$work/tap" PATH="$PK_BINDIR:$PATH" PERFKIT_ROOMS="$work/rooms" \
		PG_REGRESS="$PK_PGXS/src/test/regress/pg_regress" \
		prove -I "$PK_PGXS/src/test/perl" -I "$work/test/t" $tap_sel) \
	2>&1 | tee "$work/tap.log"
rc=${PIPESTATUS[0]}
# a script that skips itself (t/015_citus.pl without Citus) says so here
sed -nE 's/^(t\/[^ ]*) \.+ skipped: (.*)$/SKIP \1: \2/p' "$work/tap.log" |
	while read -r line; do pk_say "$line"; done
tap_ok=$(grep -cE '^t/.* ok$' "$work/tap.log")
tap_bad=$(grep -cE '^t/.* (Dubious|Failed|not ok)' "$work/tap.log")
passed=$((passed + tap_ok))
failed=$((failed + tap_bad))
if [ "$rc" -ne 0 ]; then
	failed_suites+=(tap)
	[ "$tap_bad" -gt 0 ] || failed=$((failed + 1))
fi
fi

want soak && pk_say "soak"
want soak && for soak in "$PK_TOP"/test/soak/*.sh; do
	if bash "$soak" 2>&1 | tee "$work/soak-$(basename "$soak" .sh).log"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_suites+=("soak:$(basename "$soak" .sh)")
	fi
done

# Keep every output where the user can read it after the temp dir goes.
rm -rf "$PK_TOP/test/results"
mkdir -p "$PK_TOP/test/results"
cp -r "$work"/regress "$work"/isolation "$work"/tap "$work"/*.log "$PK_TOP/test/results/" 2>/dev/null
[ -d "$work/valgrind" ] && cp -r "$work/valgrind" "$PK_TOP/test/results/"

if [ ${#failed_suites[@]} -gt 0 ]; then
	for d in regress isolation; do
		if [ -s "$work/$d/regression.diffs" ]; then
			pk_say "differences in the $d suite ($work/$d/regression.diffs)"
			cat "$work/$d/regression.diffs"
		fi
	done
	for log in "$work"/tap/tmp_check/log/regress_log_*; do
		[ -f "$log" ] && grep -q "not ok" "$log" && { pk_say "$log"; tail -n 40 "$log"; }
	done
	pk_say "FAILED: ${failed_suites[*]} (all output in test/results/)"
	echo "perfkit: $passed passed, $failed failed"
	cd / && rm -rf "$work"
	exit 1
fi
cd / && rm -rf "$work"
pk_say "all suites passed (output in test/results/)"
echo "perfkit: $passed passed, $failed failed"
