# perfkit on a Citus cluster: a coordinator and two workers on loopback
# ports (PerfkitTest's citus_cluster()), with metadata synced to the
# workers so that writes and perfkit calls may enter through any node.
#
#   1. No crash: every function of the extension (listed from pg_proc) is
#      called with a spread of arguments (NULLs, a distributed, a reference
#      and a local table, bad names, empty strings, negative numbers) on
#      the coordinator and on a worker; each call returns or raises an
#      ERROR, and the node is still up after each batch.
#   2. The result cache over distributed and reference tables is never
#      stale after a commit, whichever node ran the write.  A hit counts
#      once; the cache's connections to the workers stay bounded (one per
#      worker and role, at most 32), close at session end and after a
#      cancel (mid-query, and mid-connect to a node that never answers),
#      and recover from a worker restart; _cache_citus_versions()
#      answers only a role that can read the table.
#   3. Partitions of a distributed table: partition_table() and
#      run_maintenance() (premake, retention, default drain) keep new
#      partitions distributed and co-located, and lose no row;
#      convert_to_partitioned() converts a distributed table.
#   4. health() on the coordinator covers the cluster.
#   5. The advisor and index lint on Citus tables (per node, or a clear
#      refusal or NOTICE), correlated subqueries included.
#
# At the end no node's log may hold "terminated by signal".
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PerfkitTest;
use Time::HiRes qw(usleep);
use IO::Select;
use IO::Socket::INET;

plan skip_all => 'citus is not installed' unless citus_installed();

my @nodes = citus_cluster(workers => 2, conf => q{
restart_after_crash = off
perfkit.cache_size = '16MB'
});
my ($coord, $w1, $w2) = @nodes;

$coord->safe_psql('postgres', q{
	CREATE TABLE fz_dist (k int PRIMARY KEY, v int, t timestamptz DEFAULT now());
	SELECT create_distributed_table('fz_dist', 'k');
	CREATE TABLE fz_ref (k int PRIMARY KEY, v int);
	SELECT create_reference_table('fz_ref');
	CREATE TABLE fz_local (k int PRIMARY KEY, v int, t timestamptz DEFAULT now());
	INSERT INTO fz_dist (k, v) SELECT i, i FROM generate_series(1, 100) i;
	INSERT INTO fz_ref SELECT i, i FROM generate_series(1, 10) i;
	INSERT INTO fz_local (k, v) SELECT i, i FROM generate_series(1, 10) i;
});
# The worker holds the metadata: it sees fz_dist and fz_ref as Citus tables.
is($w1->safe_psql('postgres',
		q{SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text IN ('fz_dist', 'fz_ref')}),
	'2', 'the worker has the synced metadata of the distributed and reference tables');

########################################################################
# 1. No crash: every function of the extension, a spread of arguments.
########################################################################

# Values to try for one argument, by type; the first is the "plausible" one.
my %pool = (
	regclass => [ q{'fz_dist'::regclass}, q{'fz_ref'::regclass}, q{'fz_local'::regclass},
		q{'pg_class'::regclass}, q{0::regclass} ],
	text => [ q{'fz_dist'}, q{''}, q{'SELECT count(*) AS n FROM fz_dist'},
		q{'no such "name'}, q{'-1'}, q{'fz_ref'} ],
	name => [ q{'fz_dist'}, q{''}, q{'no_such'} ],
	int4 => [ q{1}, q{-1}, q{0}, q{2147483647} ],
	int8 => [ q{1}, q{-1}, q{0}, q{9223372036854775807} ],
	int2 => [ q{1}, q{-1} ],
	float8 => [ q{1.5}, q{-1}, q{'NaN'} ],
	numeric => [ q{1}, q{-1}, q{'NaN'} ],
	bool => [ q{true}, q{false} ],
	interval => [ q{'1 day'}, q{'-1 day'}, q{'0'} ],
	timestamptz => [ q{now()}, q{'-infinity'}, q{'infinity'} ],
	jsonb => [ q{'{}'}, q{'[]'}, q{'{"k": 1}'}, q{'null'} ],
	json => [ q{'{}'}, q{'[]'} ],
	_text => [ q{'{k}'}, q{'{}'}, q{'{no_such,""}'}, q{'{fz_dist}'} ],
	_regclass => [ q{'{fz_dist}'}, q{'{}'} ],
	oid => [ q{'fz_dist'::regclass::oid}, q{0} ],
	regproc => [ q{'now'::regproc} ],
	regprocedure => [ q{'now()'::regprocedure} ],
);

# The calls to make of one function: all NULL, each pool column across all
# arguments (argument i takes value j of its type's pool, or its first),
# and each table kind in every table-like argument.
sub calls_of
{
	my ($schema, $fn, $kind, $variadic, @types) = @_;
	my @calls;
	my $call = sub {
		my @args = @_;
		$args[-1] = "VARIADIC $args[-1]" if $variadic && @args;
		my $f = qq{$schema.$fn(} . join(', ', @args) . ')';
		push @calls, $kind eq 'p' ? "CALL $f;" : "SELECT $f;";
	};
	$call->(map { "NULL::$_" } @types);
	return @calls unless @types;
	for my $j (0 .. 5)
	{
		$call->(map {
			my $p = $pool{$_} // [];
			@$p ? ($j < @$p ? $p->[$j] : $p->[0]) . "::$_" : "NULL::$_"
		} @types);
	}
	for my $table (qw(fz_ref fz_local))
	{
		$call->(map {
			$_ eq 'regclass' ? qq{'$table'::regclass}
			  : $_ eq 'text' ? qq{'$table'::text}
			  : ($pool{$_} ? "$pool{$_}[0]::$_" : "NULL::$_")
		} @types);
	}
	# each argument NULL in turn, the others plausible
	for my $i (0 .. $#types)
	{
		$call->(map {
			$_ == $i ? "NULL::$types[$_]"
			  : ($pool{ $types[$_] } ? "$pool{$types[$_]}[0]::$types[$_]" : "NULL::$types[$_]")
		} 0 .. $#types);
	}
	return @calls;
}

my $procs = $coord->safe_psql('postgres', q{
	SELECT n.nspname, p.proname, p.prokind, p.provariadic <> 0,
	       coalesce((SELECT string_agg(format_type(t, NULL) , ',' ORDER BY o)
	                   FROM unnest(p.proargtypes) WITH ORDINALITY u(t, o)), '')
	  FROM pg_proc p
	  JOIN pg_namespace n ON n.oid = p.pronamespace
	  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	       AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'perfkit'
	 WHERE p.prokind IN ('f', 'p')
	   AND NOT 'internal'::regtype = ANY (p.proargtypes)
	   AND p.prorettype NOT IN ('internal'::regtype, 'event_trigger'::regtype)
	 ORDER BY 2, 5});
my %typename = (
	'integer' => 'int4', 'bigint' => 'int8', 'smallint' => 'int2',
	'boolean' => 'bool', 'double precision' => 'float8',
	'timestamp with time zone' => 'timestamptz', 'text[]' => '_text',
	'regclass[]' => '_regclass');
my @calls;
my $nfunc = 0;
for my $line (split /\n/, $procs)
{
	my ($schema, $fn, $kind, $variadic, $types) = split /\|/, $line, 5;
	my @types = map { $typename{$_} // $_ } grep { length } split /,/, $types;
	push @calls, calls_of($schema, $fn, $kind, $variadic eq 't', @types);
	$nfunc++;
}
cmp_ok($nfunc, '>', 100, "the fuzz covers every function of the extension ($nfunc)");

# Run the calls on a node in batches of one psql session each (a crash
# would end the session and show as the server being down); a call may
# return or raise an ERROR, never crash.
sub fuzz
{
	my ($node, $what, @calls) = @_;
	my $batch = 40;
	my $down = 0;
	for (my $i = 0; $i < @calls; $i += $batch)
	{
		my $last = $i + $batch - 1;
		$last = $#calls if $last > $#calls;
		my $sql = "SET statement_timeout = '20s';\nSET client_min_messages = error;\n"
		  . join("\n", @calls[ $i .. $last ]) . "\n";
		my ($stdout, $stderr);
		$node->psql('postgres', $sql, stdout => \$stdout, stderr => \$stderr,
			on_error_stop => 0);
		my $up = $node->psql('postgres', 'SELECT 1') == 0;
		if (!$up || $stderr =~ /server closed the connection|terminated abnormally/)
		{
			diag("crash in calls $i..$last on $what:\n$stderr");
			$down++;
			last unless $up;
		}
	}
	is($down, 0, "no call of the fuzz crashes the $what (" . scalar(@calls) . ' calls)');
}
fuzz($coord, 'coordinator', @calls);
fuzz($w1, 'worker', @calls);

########################################################################
# 2. The result cache over distributed and reference tables: never stale
#    after a commit, whichever node ran the write.
########################################################################

$coord->safe_psql('postgres', q{
	CREATE TABLE c_dist (k int PRIMARY KEY, v int);
	SELECT create_distributed_table('c_dist', 'k');
	CREATE TABLE c_ref (k int PRIMARY KEY, v int);
	SELECT create_reference_table('c_ref');
	INSERT INTO c_dist SELECT i, i FROM generate_series(1, 1000) i;
	INSERT INTO c_ref SELECT i, i FROM generate_series(1, 100) i;
});

# a node's cached() of count and sum over a table, and the truth
sub via_cache
{
	my ($node, $table) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT r -> 0 ->> 'n', r -> 0 ->> 's'
		  FROM (SELECT perfkit.cached('SELECT count(*) AS n, sum(v) AS s FROM $table') AS r) x});
}
sub truth
{
	my ($table) = @_;
	return $coord->safe_psql('postgres', "SELECT count(*), sum(v) FROM $table");
}
sub hits
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT hits FROM perfkit.cache_stats()');
}

# Warm both tables' results on the coordinator and on worker 2 (and check
# that the second read is a hit), run the write, then every read agrees
# with the tables.
sub fresh_after
{
	my ($what, $node, $sql, $expect_log) = @_;
	for my $reader ($coord, $w2)
	{
		for my $table (qw(c_dist c_ref))
		{
			via_cache($reader, $table);
			my $before = hits($reader);
			is(via_cache($reader, $table), truth($table),
				"before $what: $table through cached() on " . $reader->name);
			cmp_ok(hits($reader), '>', $before,
				"before $what: the second read of $table on " . $reader->name . ' is a hit');
		}
	}
	my ($stdout, $stderr);
	$node->psql('postgres', $sql, stdout => \$stdout, stderr => \$stderr,
		on_error_stop => 1);
	like($stderr, $expect_log, "$what: the write took the path it is meant to test")
	  if $expect_log;
	for my $reader ($coord, $w2)
	{
		for my $table (qw(c_dist c_ref))
		{
			is(via_cache($reader, $table), truth($table),
				"after $what: $table through cached() on " . $reader->name . ' is not stale');
		}
	}
}

# a key of c_dist whose shard is on worker 1
my $w1_key = $coord->safe_psql('postgres', qq{
	SELECT k FROM generate_series(2000, 3000) k
	 WHERE (SELECT nodeport FROM citus_shards
	         WHERE shardid = get_shard_id_for_distribution_column('c_dist', k)) = } . $w1->port . q{
	 ORDER BY k LIMIT 1});

fresh_after('an insert through the coordinator', $coord,
	'INSERT INTO c_dist VALUES (5001, 7)');
fresh_after('an insert through a worker', $w1,
	'INSERT INTO c_dist VALUES (5002, 7), (5003, 8), (5004, 9), (5005, 10)');
fresh_after('a multi-shard two-phase commit', $coord, q{
	SET citus.log_remote_commands = on;
	BEGIN;
	UPDATE c_dist SET v = v + 1;
	UPDATE c_ref SET v = v + 1 WHERE k <= 10;
	COMMIT;}, qr/COMMIT PREPARED/);
fresh_after('a local-execution write on the worker holding the shard', $w1, qq{
	SET citus.log_local_commands = on;
	INSERT INTO c_dist VALUES ($w1_key, 11);
	UPDATE c_dist SET v = v * 2 WHERE k = $w1_key;}, qr/executing the command locally/);
fresh_after('an INSERT ... SELECT by local copy on a worker', $w1, q{
	SET citus.log_local_commands = on;
	INSERT INTO c_dist SELECT i, 1 FROM generate_series(6000, 6099) i;},
	qr/executing the copy locally/);
fresh_after('COPY into the distributed table on a worker', $w1, q{
	COPY c_dist FROM PROGRAM 'seq 7000 7049 | sed "s/$/,3/"' WITH (FORMAT csv);});
fresh_after('a reference-table write through a worker', $w1,
	'INSERT INTO c_ref VALUES (1001, 5); DELETE FROM c_ref WHERE k = 1;');
fresh_after('a transaction block through a worker', $w1, qq{
	BEGIN;
	DELETE FROM c_dist WHERE k = $w1_key;
	UPDATE c_ref SET v = 0 WHERE k = 2;
	COMMIT;});

# Inside a transaction block the query runs uncached, and says so: the
# block's own writes on the workers are visible to it only.
{
	my ($stdout, $stderr);
	$coord->psql('postgres', q{
		BEGIN;
		INSERT INTO c_dist VALUES (9001, 1000000);
		SELECT perfkit.cached('SELECT count(*) AS n, sum(v) AS s FROM c_dist') -> 0 ->> 's';
		ROLLBACK;}, stdout => \$stdout, stderr => \$stderr);
	like($stderr, qr/cached\(\) ran the query without the cache: it reads Citus tables inside a transaction block/,
		'cached() in a transaction block over a distributed table says it ran uncached');
	my ($in_block) = split /\n/, $stdout;
	is($in_block, (split /\|/, truth('c_dist'))[1] + 1000000,
		'the transaction block sees its own write through cached()');
	is(via_cache($coord, 'c_dist'), truth('c_dist'),
		'after the rollback, cached() does not serve the rolled-back write');
}

# Isolation-style race: a writer on worker 1 commits over and over while
# the coordinator reads through cached().  Each round the reader first
# reads the writer's progress (a reference table the writer updates after
# each commit has returned), then cached(): the cached value must be at
# least that progress.
$coord->safe_psql('postgres', q{
	CREATE TABLE race (k int PRIMARY KEY, v int);
	SELECT create_distributed_table('race', 'k');
	INSERT INTO race VALUES (1, 0), (2, 0);
	CREATE TABLE race_progress (id int PRIMARY KEY, p int);
	SELECT create_reference_table('race_progress');
	INSERT INTO race_progress VALUES (1, 0);
	CREATE PROCEDURE race_writer(n int) LANGUAGE plpgsql AS $$
	BEGIN
		FOR i IN 1 .. n LOOP
			UPDATE race SET v = i WHERE k = 1;
			UPDATE race SET v = i WHERE k = 2;
			COMMIT;
			UPDATE race_progress SET p = i WHERE id = 1;
			COMMIT;
			PERFORM pg_sleep(0.01);
		END LOOP;
	END $$;
});
my $rounds = 300;
my $writer = $w1->background_psql('postgres', on_error_stop => 1);
$writer->query_until(qr/started/, "\\echo started\nCALL race_writer($rounds);\n\\echo finished\n");
my $reader = $coord->background_psql('postgres', on_error_stop => 1);
my ($stale, $reads, $hits0) = (0, 0, hits($coord));
my $q = q{SELECT perfkit.cached('SELECT min(v) AS v FROM race') -> 0 ->> 'v'};
while (1)
{
	my $p = $reader->query_safe('SELECT p FROM race_progress WHERE id = 1');
	my $c = $reader->query_safe($q);
	$reads++;
	if ($c < $p)
	{
		$stale++;
		diag("stale read: cached $c after progress $p");
	}
	last if $p >= $rounds;
}
my $race_hits = hits($coord) - $hits0;
$writer->quit;
$reader->quit;
is($stale, 0, "no stale read in $reads reads racing $rounds commits on a worker");
cmp_ok($race_hits, '>', 0, "the race's reads include cache hits ($race_hits)");

########################################################################
# 2b. The cache's counters, its connections to the other nodes, and the
#     rights _cache_citus_versions() asks for.
########################################################################

# a background session's query, with what it printed on stderr (NOTICEs)
sub bg_query
{
	my ($bg, $sql) = @_;
	$bg->{stderr} = '';
	my $out = $bg->query($sql);
	return ($out, $bg->{stderr});
}
# the connections perfkit's cache holds to a node, from every backend
sub cache_conns
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'perfkit_cache'});
}
# wait until a node shows $want cache connections (they close asynchronously)
sub cache_conns_become
{
	my ($node, $want) = @_;
	for (1 .. 100)
	{
		my $n = cache_conns($node);
		return $n if $n eq $want;
		usleep(100_000);
	}
	return cache_conns($node);
}
sub stats
{
	my ($node) = @_;
	return split /\|/, $node->safe_psql('postgres', 'SELECT hits, misses FROM perfkit.cache_stats()');
}

# A Citus hit counts once: the redirect under the plain key counts
# nothing, the fingerprinted entry counts the hit (or the miss).
{
	my $q = 'SELECT count(*) AS n, max(v) AS m FROM c_dist WHERE k % 3 = 1';
	my ($h0, $m0) = stats($coord);
	$coord->safe_psql('postgres', qq{SELECT perfkit.cached('$q')});
	my ($h1, $m1) = stats($coord);
	is($h1 - $h0 . '|' . ($m1 - $m0), '0|1', 'a first cached() over a distributed table counts one miss, no hit');
	$coord->safe_psql('postgres', qq{SELECT perfkit.cached('$q')}) for 1 .. 5;
	my ($h2, $m2) = stats($coord);
	is($h2 - $h1 . '|' . ($m2 - $m1), '5|0', 'five cached() hits over a distributed table count five hits, no miss');
	is($coord->safe_psql('postgres', qq{
		SELECT sum(hits) FROM perfkit.cache_entries WHERE key LIKE '$q%'}), '5',
		'the entries of that result (redirect and fingerprinted) count the five hits once');
}

# The connections to the workers: one per worker for a session however
# many cached() calls it makes, none once it has ended.
is(cache_conns_become($w1, '0') . '|' . cache_conns_become($w2, '0'), '0|0',
	'no cache connection to the workers is left from the sessions that ended');
{
	my $bg = $coord->background_psql('postgres', on_error_stop => 0);
	my $notices = '';
	for my $i (1 .. 30)
	{
		my ($out, $err) = bg_query($bg,
			"SELECT perfkit.cached('SELECT count(*) AS n FROM c_dist WHERE v > " . ($i % 4) . "') -> 0 ->> 'n'");
		$notices .= $err;
	}
	is($notices, '', 'thirty cached() calls over a distributed table, all through the cache');
	is(cache_conns($w1) . '|' . cache_conns($w2), '1|1',
		'a session holds one cache connection per worker after thirty cached() calls');

	# a worker restart: the kept connection is broken; the next call makes
	# a new one and stays cached
	$w1->restart;
	my ($out, $err) = bg_query($bg,
		q{SELECT perfkit.cached('SELECT count(*) AS n FROM c_dist WHERE v > 1') -> 0 ->> 'n'});
	is($err, '', 'after a worker restart, the next cached() goes through the cache (no NOTICE)');
	is($out, $coord->safe_psql('postgres', 'SELECT count(*) FROM c_dist WHERE v > 1'),
		'and returns the table\'s count');
	is(cache_conns($w1), '1', 'the restarted worker has one cache connection from the session');

	# a cancel while a worker has not answered (it waits for a lock): the
	# connection left mid-query is closed as the error propagates
	my $locker = $w1->background_psql('postgres', on_error_stop => 1);
	$locker->query_safe('BEGIN; LOCK TABLE pg_dist_placement IN ACCESS EXCLUSIVE MODE');
	($out, $err) = bg_query($bg, q{SET statement_timeout = '1s';
		SELECT perfkit.cached('SELECT count(*) AS n FROM c_dist WHERE v > 2') -> 0 ->> 'n';
		RESET statement_timeout});
	like($err, qr/canceling statement due to statement timeout/, 'cached() waiting for a locked worker is cancelled');
	$locker->query_safe('COMMIT');
	$locker->quit;
	is(cache_conns_become($w1, '0'), '0',
		'the connection the cancel left mid-query is closed, not kept');
	($out, $err) = bg_query($bg,
		q{SELECT perfkit.cached('SELECT count(*) AS n FROM c_dist WHERE v > 2') -> 0 ->> 'n'});
	is($err . '|' . cache_conns($w1), '|1', 'the next cached() connects again and goes through the cache');

	# a cancel while a node has not finished connecting: a listening socket
	# nobody accepts from, an active primary in pg_dist_node (no metadata,
	# no shards).  The half-made connection is closed as the error
	# propagates, not kept until the session's next call: its peer reads
	# the first packet, then the end of the stream.  (Citus's maintenance
	# daemon may connect to that node too, and waits: its connections do
	# not end, so the one that ends is the cache's.)
	my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
		Listen => 8, Proto => 'tcp') or die "no listening socket: $!";
	my $sport = $silent->sockport;
	$coord->safe_psql('postgres', qq{
		SELECT citus_add_inactive_node('127.0.0.1', $sport);
		UPDATE pg_dist_node SET isactive = true WHERE nodeport = $sport});
	($out, $err) = bg_query($bg, q{SET statement_timeout = '1s';
		SELECT perfkit.cached('SELECT count(*) AS n FROM c_dist WHERE v > 3') -> 0 ->> 'n';
		RESET statement_timeout});
	like($err, qr/canceling statement due to statement timeout/,
		'cached() waiting for a node that never answers the connection is cancelled');
	my @peers;
	push @peers, $silent->accept
	  while IO::Select->new($silent)->can_read(@peers ? 0.2 : 5);
	ok(scalar @peers, 'it had opened a connection to that node');
	my $sel = IO::Select->new(@peers);
	my $ended = 0;
	while (!$ended && (my @ready = $sel->can_read(3)))
	{
		for my $peer (@ready)
		{
			my $buf;
			next if sysread($peer, $buf, 1024);
			$ended++;
			$sel->remove($peer);
		}
	}
	ok($ended, 'the connection the cancel left half-made is closed as the error propagates');
	close $_ for @peers;
	close $silent;
	$coord->safe_psql('postgres', "SELECT citus_remove_node('127.0.0.1', $sport)");
	($out, $err) = bg_query($bg,
		q{SELECT perfkit.cached('SELECT count(*) AS n FROM c_dist WHERE v > 3') -> 0 ->> 'n'});
	is($err, '', 'with that node removed, the next cached() goes through the cache');
	$bg->quit;
}
is(cache_conns_become($w1, '0') . '|' . cache_conns_become($w2, '0'), '0|0',
	'the session\'s cache connections are closed when it ends');

# Many roles in one session: the connections stay bounded (at most 32, the
# least recently used closed), and every role's reads stay cached.
{
	$coord->safe_psql('postgres', join("\n", map {
		"CREATE ROLE c_role$_ LOGIN; GRANT SELECT ON c_dist TO c_role$_;" } 1 .. 40));
	my $bg = $coord->background_psql('postgres', on_error_stop => 0);
	my ($notices, $max) = ('', 0);
	my ($h0) = stats($coord);
	for my $i (1 .. 40)
	{
		for (1 .. 2)
		{
			my ($out, $err) = bg_query($bg, "SET ROLE c_role$i;
				SELECT perfkit.cached('SELECT count(*) AS n FROM c_dist') -> 0 ->> 'n';
				RESET ROLE;");
			$notices .= $err;
		}
		my $n = cache_conns($w1) + cache_conns($w2);
		$max = $n if $n > $max;
	}
	my ($h1) = stats($coord);
	is($notices, '', 'forty roles\' cached() calls in one session all go through the cache');
	cmp_ok($h1 - $h0, '>=', 40, 'each role\'s second read is a hit (' . ($h1 - $h0) . ')');
	cmp_ok($max, '<=', 32, "the session never holds more than 32 cache connections ($max)");
	cmp_ok($max, '>=', 16, "it keeps connections for many roles meanwhile ($max)");
	$bg->quit;
}

# _cache_citus_versions() tells how a table's shards are written: only to
# a role that can read the table.
$coord->safe_psql('postgres', 'CREATE ROLE c_nobody LOGIN');
for my $node ($coord, $w1)
{
	my ($ret, $stdout, $stderr) = $node->psql('postgres', q{\set VERBOSITY verbose
		SET ROLE c_nobody;
		SELECT perfkit._cache_citus_versions('{public.c_dist}')});
	like($stderr, qr/42501: permission denied for table c_dist/,
		'_cache_citus_versions() refuses a table the role cannot read on ' . $node->name);
	is($node->safe_psql('postgres', q{SET ROLE c_role1;
		SELECT perfkit._cache_citus_versions('{public.c_dist}')}),
		$node->safe_psql('postgres', q{SELECT perfkit._cache_citus_versions('{public.c_dist}')}),
		'a role that can read the table gets the same fingerprint as a superuser on ' . $node->name);
}

# A node that refuses the fingerprint (42501 here) answered: the connection
# is kept for the next call, not closed and made again each time.
{
	my $bg = $coord->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', 'c_nobody' ]);
	$bg->query(q{SELECT perfkit.cached('SELECT count(*) AS n FROM c_dist')}) for 1 .. 3;
	my $conns = sub {
		$w1->safe_psql('postgres', q{SELECT count(*) || ':' || coalesce(min(backend_start)::text, '')
			FROM pg_stat_activity WHERE application_name = 'perfkit_cache' AND usename = 'c_nobody'});
	};
	my $first = $conns->();
	like($first, qr/^1:/, 'a refused fingerprint leaves one connection to the worker');
	$bg->query(q{SELECT perfkit.cached('SELECT count(*) AS n FROM c_dist')}) for 1 .. 3;
	is($conns->(), $first, 'and later calls reuse it');
	$bg->quit;
}

########################################################################
# 3. Partitions of a distributed table: partition_table(), run_maintenance()
#    (premake, default drain, retention detach and drop) keep partitions
#    distributed and co-located and lose no row; convert_to_partitioned()
#    refuses a Citus table, and the path its hint names works.
########################################################################

$coord->safe_psql('postgres', q{
	CREATE TABLE p_ev (device int NOT NULL, at timestamptz NOT NULL, v int) PARTITION BY RANGE (at);
	SELECT create_distributed_table('p_ev', 'device');
	SELECT perfkit.partition_table('p_ev', 'at', '1 day', start => now() - interval '10 days');
});
# every partition distributed, co-located with the parent, with shards
sub partitions_distributed
{
	return $coord->safe_psql('postgres', q{
		SELECT count(*), count(p.logicalrelid),
		       count(*) FILTER (WHERE p.colocationid = (SELECT colocationid FROM pg_dist_partition
		                                                WHERE logicalrelid = 'p_ev'::regclass)),
		       count(*) FILTER (WHERE (SELECT count(*) FROM pg_dist_shard s
		                               WHERE s.logicalrelid = i.inhrelid) = 4)
		  FROM pg_inherits i LEFT JOIN pg_dist_partition p ON p.logicalrelid = i.inhrelid
		 WHERE i.inhparent = 'p_ev'::regclass});
}
my ($nparts) = split /\|/, partitions_distributed();
cmp_ok($nparts, '>=', 15, "partition_table() made the partitions and a default ($nparts)");
is(partitions_distributed(), "$nparts|$nparts|$nparts|$nparts",
	'every partition partition_table() made is distributed, co-located, with its shards');

# rows in the partitions, and rows 20 and 40 days ahead (in the default)
$coord->safe_psql('postgres', q{
	INSERT INTO p_ev SELECT i % 50, now() - (i % 240) * interval '1 hour', i FROM generate_series(1, 5000) i;
	INSERT INTO p_ev SELECT i % 50, now() + interval '20 days' + (i % 24) * interval '1 hour', i
	  FROM generate_series(1, 300) i;
	INSERT INTO p_ev SELECT i % 50, now() + interval '40 days', i FROM generate_series(1, 10) i;
});
my $all = $coord->safe_psql('postgres', 'SELECT count(*), sum(v) FROM p_ev');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM p_ev_default'), '310',
	'the rows ahead of the partitions are in the default partition');
my $run = $coord->safe_psql('postgres',
	q{SELECT status, moved FROM perfkit.run_maintenance('p_ev')});
is($run, 'ok|310', 'run_maintenance() drains the distributed default partition');
is($coord->safe_psql('postgres', 'SELECT count(*), sum(v) FROM p_ev'), $all,
	'the drain lost and doubled no row (count and sum)');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM p_ev_default'), '0',
	'the default partition is empty');
($nparts) = split /\|/, partitions_distributed();
is(partitions_distributed(), "$nparts|$nparts|$nparts|$nparts",
	"the partitions made by the drain and premake are distributed and co-located ($nparts)");
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pg_inherits i
	 WHERE i.inhparent = 'p_ev'::regclass
	   AND pg_relation_size(i.inhrelid) > 0}), '0',
	'no drained row is left behind on the coordinator under a distributed partition');

# retention, detach: the detached partitions stay distributed, with their rows
my $keep = $coord->safe_psql('postgres', q{
	SELECT count(*), sum(v) FROM p_ev WHERE at >= date_trunc('day', now() - interval '5 days')});
my $old = $coord->safe_psql('postgres', q{
	SELECT count(*), sum(v) FROM p_ev WHERE at < date_trunc('day', now() - interval '5 days')});
$coord->safe_psql('postgres', q{SELECT perfkit.set_retention('p_ev', '5 days', 'detach')});
like($coord->safe_psql('postgres', q{SELECT status, retired FROM perfkit.run_maintenance('p_ev')}),
	qr/^ok\|[1-9]/, 'retention detaches the old partitions of the distributed table');
is($coord->safe_psql('postgres', 'SELECT count(*), sum(v) FROM p_ev'), $keep,
	'the distributed table keeps the rows within retention');
my $detached = $coord->safe_psql('postgres', q{
	SELECT string_agg(format('SELECT v FROM %I', c.relname), ' UNION ALL ')
	  FROM pg_class c JOIN pg_dist_partition p ON p.logicalrelid = c.oid
	 WHERE c.relname LIKE 'p\_ev\_p%' AND NOT c.relispartition});
is($coord->safe_psql('postgres', "SELECT count(*), sum(v) FROM ($detached) x"), $old,
	'the detached partitions are still distributed tables holding every old row');

# retention, drop: dropped cluster-wide (no shard left on any worker)
my $doomed = $coord->safe_psql('postgres', q{
	SELECT string_agg(i.inhrelid::regclass::text, ',' ORDER BY 1)
	  FROM pg_inherits i
	 WHERE i.inhparent = 'p_ev'::regclass
	   AND pg_get_expr((SELECT relpartbound FROM pg_class WHERE oid = i.inhrelid), i.inhrelid)
	       NOT LIKE '%DEFAULT%'
	   AND (regexp_match(pg_get_expr((SELECT relpartbound FROM pg_class WHERE oid = i.inhrelid),
	                                 i.inhrelid), 'TO \(''([^'']*)''\)'))[1]::timestamptz
	       <= now() - interval '3 days'});
ok(length($doomed) > 0, "partitions past a 3-day retention exist ($doomed)");
$keep = $coord->safe_psql('postgres', q{
	SELECT count(*), sum(v) FROM p_ev WHERE at >= date_trunc('day', now() - interval '3 days')});
$coord->safe_psql('postgres', q{SELECT perfkit.set_retention('p_ev', '3 days', 'drop', force => true)});
like($coord->safe_psql('postgres', q{SELECT status, retired FROM perfkit.run_maintenance('p_ev')}),
	qr/^ok\|[1-9]/, 'retention drops old partitions of the distributed table');
is($coord->safe_psql('postgres', 'SELECT count(*), sum(v) FROM p_ev'), $keep,
	'the distributed table keeps exactly the rows within retention');
for my $w ($w1, $w2)
{
	my $left = $w->safe_psql('postgres', qq{
		SET citus.show_shards_for_app_name_prefixes = '*';
		SELECT count(*) FROM pg_class c
		 WHERE c.relname LIKE ANY (SELECT p || '\\_%' FROM unnest(string_to_array('$doomed', ',')) p)});
	is($left, '0', 'no shard of a dropped partition is left on ' . $w->name);
	# the same count sees the shards of a partition that stays
	my $kept = $w->safe_psql('postgres', q{
		SET citus.show_shards_for_app_name_prefixes = '*';
		SELECT count(*) FROM pg_class c
		 WHERE c.relname LIKE (SELECT i.inhrelid::regclass::text || '\_%'
		                         FROM pg_inherits i
		                        WHERE i.inhparent = 'p_ev'::regclass
		                        ORDER BY 1 DESC LIMIT 1)});
	is($kept, '2', 'the shards of a partition that stays are there on ' . $w->name);
}

# convert_to_partitioned() on a distributed table of this cluster: it
# converts with every row (test/t/017_citus_convert.pl covers writers, keys
# and refusals).
$coord->safe_psql('postgres', q{
	CREATE TABLE cv (device int NOT NULL, at timestamptz NOT NULL, v int);
	SELECT create_distributed_table('cv', 'device');
	INSERT INTO cv SELECT i % 20, now() - (i % 72) * interval '1 hour', i FROM generate_series(1, 2000) i;
});
my $cv = $coord->safe_psql('postgres', 'SELECT count(*), sum(v) FROM cv');
is($coord->safe_psql('postgres', q{SELECT perfkit.convert_to_partitioned('cv', 'at', '1 day')}), '2000',
	'convert_to_partitioned() converts a distributed table and returns its rows');
like($coord->safe_psql('postgres', q{
	SELECT c.relkind::text || ':' || (SELECT count(*) FROM pg_inherits i JOIN pg_dist_partition p ON p.logicalrelid = i.inhrelid
								WHERE i.inhparent = c.oid)
		   || ':' || (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = c.oid)
	FROM pg_class c WHERE c.oid = 'cv'::regclass}), qr/^p:([1-9]\d*):\1$/,
	'the converted table is partitioned, every partition distributed');
is($coord->safe_psql('postgres', 'SELECT count(*), sum(v) FROM cv'), $cv, 'with every row');

########################################################################
# 4. health() on the coordinator covers the cluster: a shard table missing
#    on its node, then a node down.
########################################################################

sub citus_health
{
	return $coord->safe_psql('postgres', q{
		SELECT string_agg(check_name || '=' || status || ':' || value, E'\n' ORDER BY check_name)
		  FROM perfkit.health() WHERE check_name LIKE 'citus%'});
}
is(citus_health(),
	"citus_missing_shards=ok:every placed shard is on its node\ncitus_nodes_down=ok:every node answers",
	'health() on the coordinator: every node answers, every shard is there');
my $victim = $coord->safe_psql('postgres', qq{
	SELECT shard_name('c_dist'::regclass, shardid) FROM citus_shards
	 WHERE table_name = 'c_dist'::regclass AND nodeport = } . $w2->port . q{ ORDER BY shardid LIMIT 1});
$w2->safe_psql('postgres', qq{
	SET citus.enable_manual_changes_to_shards = on;
	ALTER TABLE $victim RENAME TO ${victim}_gone});
like(citus_health(), qr/^citus_missing_shards=critical:1 missing: \Q$victim\E on 127\.0\.0\.1:@{[$w2->port]}$/m,
	'health() names the shard missing on its worker (critical)');
$w2->safe_psql('postgres', qq{
	SET citus.enable_manual_changes_to_shards = on;
	ALTER TABLE ${victim}_gone RENAME TO $victim});
$w2->stop;
my $down = citus_health();
like($down, qr/^citus_nodes_down=critical:down: 127\.0\.0\.1:@{[$w2->port]}$/m,
	'health() reports the stopped worker down (critical)');
like($down, qr/^citus_missing_shards=ok:.*not checked on 127\.0\.0\.1:@{[$w2->port]}$/m,
	'health() says the down worker\'s shards were not checked');
$w2->start;
is(citus_health(),
	"citus_missing_shards=ok:every placed shard is on its node\ncitus_nodes_down=ok:every node answers",
	'health() is ok again once the worker is back');

########################################################################
# 5. The advisor on distributed tables: unused_indexes() does not judge
#    them (their scans are on the shards), duplicate_indexes() works on the
#    shell and its statement drops the index cluster-wide, index_advisor()
#    refuses a query over a Citus table and works per node on a shard.
########################################################################

$coord->safe_psql('postgres', q{
	CREATE TABLE a_dist (k int PRIMARY KEY, v int, w int);
	SELECT create_distributed_table('a_dist', 'k');
	INSERT INTO a_dist SELECT i, i % 1000, i % 7 FROM generate_series(1, 40000) i;
	CREATE INDEX a_dist_w ON a_dist (w);
	CREATE INDEX a_dist_w2 ON a_dist (w);
	ANALYZE a_dist;
});
# scanned on the shards, never on the shell
$coord->safe_psql('postgres', q{SET enable_seqscan = off; SELECT count(*) FROM a_dist WHERE w = 3});
is($coord->safe_psql('postgres', q{
	SELECT string_agg(index_name::text || ':' || coalesce(drop_statement, '-') || ':' || reason, E'\n' ORDER BY 1)
	  FROM perfkit.unused_indexes() WHERE table_name = 'a_dist'::regclass}),
	"a_dist_w:-:not judged: an index of a Citus table is scanned on its shards, on the workers, whose scans this node does not count\n"
	. "a_dist_w2:-:not judged: an index of a Citus table is scanned on its shards, on the workers, whose scans this node does not count",
	'unused_indexes() proposes no drop of an index of a distributed table, and says why');
my $dup = $coord->safe_psql('postgres', q{
	SELECT drop_statement FROM perfkit.duplicate_indexes() WHERE table_name = 'a_dist'::regclass});
is($dup, 'DROP INDEX CONCURRENTLY public.a_dist_w2', 'duplicate_indexes() finds the duplicate on the distributed table');
$coord->safe_psql('postgres', $dup);
is($w1->safe_psql('postgres', q{
	SET citus.show_shards_for_app_name_prefixes = '*';
	SELECT count(*) FILTER (WHERE relname LIKE 'a\_dist\_w2\_%'), count(*) FILTER (WHERE relname LIKE 'a\_dist\_w\_%')
	  FROM pg_class WHERE relkind = 'i'}), '0|2',
	'its drop statement drops the duplicate on every shard and keeps the other');
{
	my ($ret, $stdout, $stderr) = $coord->psql('postgres', q{\set VERBOSITY verbose
		SELECT * FROM perfkit.index_advisor('SELECT * FROM a_dist WHERE v = 3')});
	like($stderr, qr/0A000: index_advisor\(\) cannot cost a query over Citus table public\.a_dist/,
		'index_advisor() refuses a query over a distributed table (0A000)');
	like($stderr, qr/HINT:.*on the worker holding a shard/, 'its hint says how to advise per node');
}
# the workload's advice leaves Citus tables out too (a workload of these
# statements only)
$coord->safe_psql('postgres', 'SELECT perfkit.workload_reset()');
$coord->safe_psql('postgres', 'SELECT count(*) FROM a_dist WHERE v = 3') for 1 .. 5;
$coord->safe_psql('postgres', 'SELECT count(*) FROM fz_local WHERE v = 3') for 1 .. 5;
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM perfkit.recommend_indexes(0) WHERE table_name = 'a_dist'::regclass}), '0',
	'recommend_indexes() proposes no index on a distributed table');
# The same with every statement captured, correlated subqueries over a
# reference table among them (their outer Vars once stopped the advisor
# with "Upper-level Var found where not expected"),
# and a local table big enough for an index: that one gets its index, the
# Citus table none, and a NOTICE says so.
$coord->safe_psql('postgres', q{
	CREATE TABLE a_local (k int PRIMARY KEY, v int);
	INSERT INTO a_local SELECT i, i % 500 FROM generate_series(1, 20000) i;
	ANALYZE a_local;
	SELECT perfkit.workload_reset();
});
{
	my ($ret, $stdout, $stderr) = $coord->psql('postgres', q{
		SET perfkit.advisor_sample_rate = 1;
		SELECT count(*) FROM a_dist WHERE v = 3;
		SELECT count(*) FROM a_local l WHERE l.v = 3 AND EXISTS (SELECT 1 FROM fz_ref r WHERE r.k = l.k);
		SELECT count(*) FROM a_local l WHERE l.v = 4 AND l.k IN (SELECT d.k FROM a_dist d WHERE d.w = 3);
		SELECT (SELECT max(r.v) FROM fz_ref r WHERE r.k = l.k) FROM a_local l WHERE l.v = 5;
		SET perfkit.advisor_sample_rate = 0;
		\set VERBOSITY verbose
		SELECT count(*) FROM perfkit.workload WHERE example LIKE '%a\_local l%';
		SELECT string_agg(table_name::text, ',' ORDER BY 1) FROM perfkit.recommend_indexes(0);});
	my ($captured, $tables) = (split /\n/, $stdout)[-2, -1];
	# (and Citus's local-execution forms of some, over the shards)
	cmp_ok($captured, '>=', 3, "the workload holds the three statements with correlated subqueries ($captured)");
	is($ret, 0, 'recommend_indexes() over a workload of correlated subqueries on Citus tables works');
	unlike($stderr, qr/XX000|Upper-level Var/, 'no internal error from the advisor');
	like($tables // '', qr/^a_local(,a_local)*$/, 'it proposes indexes for the local table only');
	like($stderr, qr/NOTICE:  00000: recommend_indexes proposes no index on 2 Citus tables\n.*DETAIL:.*public\.(a_dist, public\.fz_ref|fz_ref, public\.a_dist)/s,
		'its NOTICE names the distributed and reference tables it proposes nothing for');
	like($stderr, qr/HINT:.*on each worker/, 'and says how to advise per node');
}
my $shard = $coord->safe_psql('postgres', qq{
	SELECT shard_name('a_dist'::regclass, shardid) FROM citus_shards
	 WHERE table_name = 'a_dist'::regclass AND nodeport = } . $w1->port . q{ ORDER BY shardid LIMIT 1});
like($w1->safe_psql('postgres', qq{
	SET citus.show_shards_for_app_name_prefixes = '*';
	SELECT index_statement FROM perfkit.index_advisor('SELECT * FROM public.$shard WHERE v = 3')}),
	qr/^CREATE INDEX CONCURRENTLY \S+ ON public\.\Q$shard\E USING btree \(v\)$/,
	'on the worker, index_advisor() proposes the index for the shard\'s task');

# The fuzz again, now that a distributed partitioned table is a registered
# partition set (with retention) and the cache holds Citus results: the
# same calls on those tables.
{
	my @late = map { (my $c = $_) =~ s/fz_local/p_ev/g; $c =~ s/fz_dist/c_dist/g; $c } @calls;
	fuzz($w1, 'worker, with partition sets', @late);
	fuzz($coord, 'coordinator, with partition sets', @late);
}

########################################################################
# The end: no node's log holds "terminated by signal".
########################################################################
for my $node (@nodes)
{
	my $log = slurp_file($node->logfile);
	unlike($log, qr/terminated by signal/, $node->name . "'s log has no backend killed by a signal");
}

$_->stop for reverse @nodes;
done_testing();
