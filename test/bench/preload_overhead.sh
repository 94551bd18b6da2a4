# preload_overhead: what merely preloading perfkit costs.
#
# Two measures, each perfkit ('perfkit' preloaded) against a baseline
# (nothing preloaded) in the same run:
#
# 1. Throughput: pgbench select-only and TPC-B TPS.  The configurations
#    alternate, in swapped order every round; each round gives one ratio
#    from two adjacent measurements, and the reported ratio is the median
#    of the rounds' ratios, which cancels slow drift.  On a small shared
#    machine single runs still vary by 10% or more.
# 2. CPU work per statement, which does not depend on machine noise: a
#    single-user backend runs the pgbench statements under callgrind, N and
#    then 2N of them; the difference in instructions is the cost of N
#    statements without startup.  Every run starts from the same copy of
#    the data directory, so that no run sees pages an earlier one wrote.
#    Ratio = baseline / perfkit, so < 1 means perfkit adds work.
#
# Target: every ratio >= 0.97.
# Settings: BENCH_SCALE (10), BENCH_CLIENTS (4), BENCH_SECONDS (10),
# BENCH_ROUNDS (5), BENCH_STATEMENTS (2000).

bench_main() {
	local scale=${BENCH_SCALE:-10} clients=${BENCH_CLIENTS:-4}
	local secs=${BENCH_SECONDS:-10} rounds=${BENCH_ROUNDS:-5}
	local r cfg mode order
	declare -A tps ratios

	bench_conf "synchronous_commit = off"
	bench_restart
	pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres \
		-i -q -s "$scale" bench >/dev/null 2>&1

	for r in $(seq 1 "$rounds"); do
		if [ $((r % 2)) -eq 1 ]; then order="baseline perfkit"; else order="perfkit baseline"; fi
		declare -A this=()
		for cfg in $order; do
			preload_set "$cfg"
			bench_restart
			bench_pgbench -S -T 2 -c "$clients" -j 2 >/dev/null	# warm the buffers
			for mode in select_only tpcb; do
				local flags=()
				[ "$mode" = select_only ] && flags=(-S)
				this[$cfg.$mode]=$(bench_pgbench "${flags[@]}" -M prepared -T "$secs" -c "$clients" -j 2)
				tps[$cfg.$mode]+="${this[$cfg.$mode]} "
			done
		done
		for mode in select_only tpcb; do
			ratios[$mode]+="$(awk -v a="${this[perfkit.$mode]}" -v b="${this[baseline.$mode]}" \
				'BEGIN {printf "%.3f", a / b}') "
		done
	done

	echo "preload_overhead.config: scale=$scale clients=$clients threads=2 seconds=$secs rounds=$rounds"
	for mode in select_only tpcb; do
		echo "preload_overhead.$mode.baseline_tps: $(median ${tps[baseline.$mode]})"
		echo "preload_overhead.$mode.perfkit_tps: $(median ${tps[perfkit.$mode]})"
		echo "preload_overhead.$mode.round_ratios: ${ratios[$mode]% }"
		echo "preload_overhead.$mode.ratio: $(median ${ratios[$mode]})"
	done

	instructions_ratio
}

# preload_set baseline|perfkit: the shared_preload_libraries line to use.
preload_set() {
	if [ "$1" = perfkit ]; then
		bench_conf "shared_preload_libraries = 'perfkit'"
	else
		bench_conf "shared_preload_libraries = ''"
	fi
}

# statements MODE N: N pgbench statements (fixed seed) for postgres --single.
statements() {
	awk -v mode="$1" -v n="$2" -v rows=$((100000 * ${BENCH_SCALE:-10})) 'BEGIN {
		srand(42)
		for (i = 0; i < n; i++) {
			aid = int(rand() * rows) + 1
			if (mode == "select_only") {
				print "SELECT abalance FROM pgbench_accounts WHERE aid = " aid ";"
			} else {
				d = int(rand() * 10001) - 5000
				tid = int(rand() * 10 * '"${BENCH_SCALE:-10}"') + 1
				bid = int(rand() * '"${BENCH_SCALE:-10}"') + 1
				print "UPDATE pgbench_accounts SET abalance = abalance + " d " WHERE aid = " aid ";"
				print "SELECT abalance FROM pgbench_accounts WHERE aid = " aid ";"
				print "UPDATE pgbench_tellers SET tbalance = tbalance + " d " WHERE tid = " tid ";"
				print "UPDATE pgbench_branches SET bbalance = bbalance + " d " WHERE bid = " bid ";"
				print "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (" tid ", " bid ", " aid ", " d ", CURRENT_TIMESTAMP);"
			}
		}
	}'
}

# instructions CFG MODE N: instructions a single-user backend executes to
# start, run N statements and exit.
instructions() {
	local preload=""
	[ "$1" = perfkit ] && preload=perfkit
	rm -rf "$BENCH_DATA"
	cp -a "$BENCH_DIR/snapshot" "$BENCH_DATA"
	statements "$2" "$3" >"$BENCH_DIR/stmts.sql"
	chown "$(pk_run_user)" "$BENCH_DIR/stmts.sql"
	pk_as_user valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$PK_BINDIR/postgres" --single -D "$BENCH_DATA" \
		-c shared_preload_libraries="$preload" -c synchronous_commit=off bench \
		<"$BENCH_DIR/stmts.sql" 2>&1 >/dev/null |
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

instructions_ratio() {
	local n=${BENCH_STATEMENTS:-2000} mode cfg
	command -v valgrind >/dev/null || { echo "preload_overhead.instructions: skipped (no valgrind)"; return; }
	pk_as_user "$PK_BINDIR/pg_ctl" -D "$BENCH_DATA" -m fast -w stop >/dev/null
	cp -a "$BENCH_DATA" "$BENCH_DIR/snapshot"
	for mode in select_only tpcb; do
		declare -A per=()
		for cfg in baseline perfkit; do
			local one two
			one=$(instructions "$cfg" "$mode" "$n")
			two=$(instructions "$cfg" "$mode" $((2 * n)))
			per[$cfg]=$(( (two - one) / n ))
			echo "preload_overhead.$mode.${cfg}_instructions_per_statement: ${per[$cfg]}"
		done
		echo "preload_overhead.$mode.instructions_ratio: $(awk -v a="${per[baseline]}" -v b="${per[perfkit]}" \
			'BEGIN {printf "%.4f", a / b}')"
	done
}
