# convert_to_partitioned() on a Citus distributed table (issue 19): a
# coordinator and two workers (PerfkitTest's citus_cluster()), metadata
# synced, so that writes may enter through any node.
#
#   1. Refusals: a reference table, a call on a worker, a unique key
#      without the time column (without unique_keys => 'extend'), a
#      foreign key, a rollup source; each leaves the table as it was.
#   2. lock_timeout holds on the workers: a write left open on a worker
#      makes the conversion fail with 55P03 instead of waiting.
#   3. The conversion of a table with a bigserial key, rows over five
#      months, while one writer inserts through the coordinator and one
#      through a worker: writes wait (a write with lock_timeout fails on
#      either node while the conversion's transaction is open), every
#      committed write is there once afterwards, every row from before is
#      there unchanged (EXCEPT ALL both ways against a copy), the table is
#      partitioned, distributed on the same column, co-located as before,
#      every partition distributed and co-located, the old shards gone on
#      the workers, the sequence, grants, comment and index names carried
#      over, and run_maintenance() then premakes distributed partitions.
#
# At the end no node's log may hold "terminated by signal".
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PerfkitTest;

plan skip_all => 'citus is not installed' unless citus_installed();

my @nodes = citus_cluster(workers => 2, conf => q{
restart_after_crash = off
});
my ($coord, $w1, $w2) = @nodes;
my ($rc, $stdout, $stderr);

# psql on node with verbose errors: (exit code, stderr)
sub try_sql
{
	my ($node, $sql) = @_;
	my ($out, $err);
	my $r = $node->psql('postgres', $sql, stdout => \$out, stderr => \$err,
		extra_params => [ '-v', 'VERBOSITY=verbose' ], timeout => 120);
	return ($r, $err);
}

$coord->safe_psql('postgres', q{
	CREATE ROLE reader;
	CREATE TABLE ev (id bigserial, dev int NOT NULL, at timestamptz NOT NULL,
	                 v int NOT NULL DEFAULT 0 CHECK (v >= 0), note text,
	                 PRIMARY KEY (id, dev));
	CREATE INDEX ev_dev_at ON ev (dev, at);
	COMMENT ON TABLE ev IS 'device events';
	GRANT SELECT ON ev TO reader;
	SELECT create_distributed_table('ev', 'dev');
	INSERT INTO ev (dev, at, v, note)
	SELECT i % 40, now() - (i % 150) * interval '1 day' - (i % 24) * interval '1 hour', i, 'seed'
	  FROM generate_series(1, 20000) i;
});
# rows written through a worker draw ids from that worker's range
$w1->safe_psql('postgres', q{
	INSERT INTO ev (dev, at, v, note)
	SELECT i % 40, now() - (i % 100) * interval '1 day', i, 'w1-seed' FROM generate_series(1, 500) i});
my $colocation = $coord->safe_psql('postgres',
	q{SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'ev'::regclass});
my $old_shards = $coord->safe_psql('postgres',
	q{SELECT string_agg('ev_' || shardid, ',') FROM pg_dist_shard WHERE logicalrelid = 'ev'::regclass});

########################################################################
# 1. Refusals, each leaving the table as it was.
########################################################################

sub unchanged
{
	my ($what) = @_;
	is($coord->safe_psql('postgres', q{
		SELECT c.relkind, (SELECT count(*) FROM pg_class WHERE relname = 'ev_partitioned'),
		       (SELECT count(*) FROM ev)
		  FROM pg_class c WHERE c.oid = 'ev'::regclass}), 'r|0|20500',
		"$what: the table is as it was, no copy left");
}

my $err;
($rc, $err) = try_sql($coord, q{SELECT perfkit.convert_to_partitioned('ev', 'at', '7 days')});
like($err, qr/0A000: primary key "ev_pkey" of table "ev" does not contain column "at"/,
	'a primary key without the time column is refused (0A000)');
like($err, qr/HINT:.*unique_keys => 'extend'/, 'the hint names unique_keys => extend');
unchanged('refused key');

($rc, $err) = try_sql($w1, q{SELECT perfkit.convert_to_partitioned('ev', 'at', '7 days', unique_keys => 'extend')});
like($err, qr/0A000: cannot convert Citus table "ev" on a worker node/, 'a call on a worker is refused (0A000)');
like($err, qr/HINT:.*on the coordinator/, 'the hint says to call it on the coordinator');
unchanged('call on a worker');

$coord->safe_psql('postgres', q{
	CREATE TABLE ref (k int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
	SELECT create_reference_table('ref');
	CREATE TABLE fk_ev (dev int NOT NULL REFERENCES ref (k), at timestamptz NOT NULL);
	INSERT INTO ref (k) VALUES (1);
	SELECT create_distributed_table('fk_ev', 'dev');
	CREATE TABLE rsrc (dev int NOT NULL, at timestamptz NOT NULL, v int);
	SELECT create_distributed_table('rsrc', 'dev');
	SELECT perfkit.create_rollup('rsrc_daily', 'rsrc', 'at', 'day', ARRAY['dev'], ARRAY['count(*)']);
});
$coord->safe_psql('postgres', q{
	CREATE TABLE vsrc (dev int NOT NULL, at timestamptz NOT NULL);
	SELECT create_distributed_table('vsrc', 'dev');
	CREATE VIEW vsrc_recent AS SELECT * FROM vsrc WHERE at > now() - interval '1 day';
});
($rc, $err) = try_sql($coord, q{SELECT perfkit.convert_to_partitioned('vsrc', 'at', '7 days')});
like($err, qr/2BP01: view "(public\.)?vsrc_recent" depends on table "vsrc"/, 'a table a view depends on is refused (2BP01), as on one node');
($rc, $err) = try_sql($coord, q{SELECT perfkit.convert_to_partitioned('ref', 'at', '7 days')});
like($err, qr/0A000: cannot convert Citus table "ref": it is a reference table/, 'a reference table is refused (0A000)');
like($err, qr/HINT:.*create_distributed_table/, 'the hint says what would work');
($rc, $err) = try_sql($coord, q{SELECT perfkit.convert_to_partitioned('fk_ev', 'at', '7 days')});
like($err, qr/0A000: cannot convert Citus table "fk_ev": it has foreign keys/, 'a table with a foreign key is refused (0A000)');
($rc, $err) = try_sql($coord, q{SELECT perfkit.convert_to_partitioned('rsrc', 'at', '7 days')});
like($err, qr/0A000: cannot convert Citus table "rsrc": perfkit rollups read it: public.rsrc_daily/,
	'a rollup source is refused (0A000), naming the rollup');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname) FROM pg_class c
	 WHERE c.relname IN ('ref', 'fk_ev', 'rsrc', 'vsrc') OR c.relname LIKE '%\_partitioned'}),
	'fk_ev:r,ref:r,rsrc:r,vsrc:r', 'the refused tables are unchanged, no copy left');

########################################################################
# 2. lock_timeout holds on the workers too.
########################################################################

my $open = $w1->background_psql('postgres');
$open->query_safe(q{BEGIN; INSERT INTO ev (dev, at, v, note) VALUES (7, now(), 1, 'open-w1')});
my $t0 = time();
($rc, $err) = try_sql($coord, q{SET lock_timeout = '2s';
	SELECT perfkit.convert_to_partitioned('ev', 'at', '7 days', unique_keys => 'extend')});
my $took = time() - $t0;
like($err, qr/55P03/, 'a write open on a worker makes the conversion fail with 55P03 under lock_timeout');
cmp_ok($took, '<', 30, "after lock_timeout, not waiting for the write ($took s)");
$open->query_safe('COMMIT');
$open->quit;
is($coord->safe_psql('postgres', q{SELECT (SELECT count(*) FROM ev WHERE note = 'open-w1'),
	(SELECT relkind FROM pg_class WHERE oid = 'ev'::regclass)}), '1|r',
	'the write that waited committed; the table is still a plain one');

# The ground truth: every row before the conversion.
$coord->safe_psql('postgres', 'CREATE TABLE ev_before AS SELECT * FROM ev');

########################################################################
# 3. The conversion, with writers on the coordinator and on a worker.
########################################################################

my $dir = PostgreSQL::Test::Utils::tempdir();
my %writer;
for my $node ($coord, $w1)
{
	my $tag = $node->name;
	my ($out, $errout) = ('', '');
	my $script = qq{
		i=0
		while [ ! -e $dir/stop ]; do
			i=\$((i + 1))
			if psql -X -q -h '${\ $node->host}' -p ${\ $node->port} -d postgres \\
				-c "INSERT INTO ev (dev, at, v, note) VALUES (\$((i % 40)), now(), \$i, '$tag-\$i')" \\
				>/dev/null 2>>$dir/$tag.err; then
				echo "$tag-\$i"
			fi
		done};
	$writer{$tag} = { out => \$out, h => IPC::Run::start([ 'bash', '-c', $script ], '>', \$out, '2>', \$errout) };
}
# writes before the conversion
ok($coord->poll_query_until('postgres', q{
	SELECT count(DISTINCT split_part(note, '-', 1)) = 2 FROM ev WHERE note LIKE 'worker1-%' OR note LIKE 'coordinator-%'}),
	'both writers commit before the conversion');

# The conversion in a transaction left open: writes wait, on every node.
my $conv = $coord->background_psql('postgres');
$conv->query_safe(q{SET client_min_messages = warning; BEGIN;
	SELECT perfkit.convert_to_partitioned('ev', 'at', '7 days', unique_keys => 'extend')});
for my $node ($coord, $w1, $w2)
{
	($rc, $err) = try_sql($node, q{SET lock_timeout = '300ms';
		INSERT INTO ev (dev, at, v, note) VALUES (3, now(), 1, 'must-wait')});
	like($err, qr/55P03/, 'during the conversion a write through ' . $node->name . ' waits (lock_timeout: 55P03)');
}
ok($w1->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM pg_stat_activity
	 WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO ev %worker1-%'}),
	'the writer on the worker is waiting for its lock');
$conv->query_safe('COMMIT');
$conv->quit;

# the writers go on for a while on the partitioned table, then stop
for my $tag ('coordinator', 'worker1')
{
	my $after = $coord->safe_psql('postgres', qq{SELECT count(*) FROM ev WHERE note LIKE '$tag-%'});
	ok($coord->poll_query_until('postgres',
		qq{SELECT count(*) > $after + 5 FROM ev WHERE note LIKE '$tag-%'}),
		"the writer through $tag goes on after the conversion");
}
PostgreSQL::Test::Utils::append_to_file("$dir/stop", '');
$_->{h}->finish for values %writer;

is($coord->safe_psql('postgres', q{SELECT relkind FROM pg_class WHERE oid = 'ev'::regclass}), 'p',
	'the table is partitioned');
is($coord->safe_psql('postgres', q{
	SELECT column_to_column_name(logicalrelid, partkey), colocationid FROM pg_dist_partition
	 WHERE logicalrelid = 'ev'::regclass}), "dev|$colocation",
	'distributed on the same column, in the same co-location group as before');
my $parts = $coord->safe_psql('postgres', q{
	SELECT count(*), count(p.logicalrelid), count(*) FILTER (WHERE p.colocationid = c.colocationid)
	  FROM pg_inherits i LEFT JOIN pg_dist_partition p ON p.logicalrelid = i.inhrelid,
	       (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'ev'::regclass) c
	 WHERE i.inhparent = 'ev'::regclass});
my ($nparts) = split /\|/, $parts;
cmp_ok($nparts, '>=', 24, "partitions over five months and ahead, and a default ($nparts)");
is($parts, "$nparts|$nparts|$nparts", 'every partition is distributed and co-located');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM ev_default'), '0',
	'every row is in a time partition');

# every row from before, unchanged
is($coord->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM (SELECT * FROM ev_before EXCEPT ALL
	                              SELECT * FROM ev WHERE note NOT LIKE 'worker1-%' AND note NOT LIKE 'coordinator-%') x),
	       (SELECT count(*) FROM (SELECT * FROM ev WHERE note NOT LIKE 'worker1-%' AND note NOT LIKE 'coordinator-%'
	                              EXCEPT ALL SELECT * FROM ev_before) y),
	       (SELECT count(*) FROM ev_before)}), '0|0|20501',
	'the rows from before the conversion are all there, unchanged, none twice (EXCEPT ALL both ways)');

# every committed write once, and nothing else
for my $tag (sort keys %writer)
{
	my @done = split /\n/, ${ $writer{$tag}{out} };
	my %done = map { $_ => 1 } @done;
	my $rows = $coord->safe_psql('postgres',
		qq{SELECT note, count(*) FROM ev WHERE note LIKE '$tag-%' GROUP BY note});
	my %seen = map { my ($n, $c) = split /\|/; ($n => $c) } split /\n/, $rows;
	cmp_ok(scalar(@done), '>', 6, "the writer through $tag committed writes (" . scalar(@done) . ')');
	is(scalar(grep { !$seen{$_} } @done), 0, "every write committed through $tag is in the table");
	is(scalar(grep { $seen{$_} != 1 } keys %seen), 0, "none of them twice");
	is(scalar(grep { !$done{$_} } keys %seen), 0, "and no write that failed");
}
is($coord->safe_psql('postgres', q{SELECT count(*) FROM ev WHERE note = 'must-wait'}), '0',
	'the writes that gave up are not there');
is($coord->safe_psql('postgres', 'SELECT count(*) - count(DISTINCT id) FROM ev'), '0',
	'ids are unique across the writes of every node');

# the sequence, grants, comment and names carried over
is($coord->safe_psql('postgres', q{SELECT pg_get_serial_sequence('ev', 'id')}), 'public.ev_id_seq',
	'the table owns its serial sequence');
for my $node ($w1, $w2)
{
	is($node->safe_psql('postgres', q{
		SELECT pg_get_serial_sequence('ev', 'id'), has_table_privilege('reader', 'ev', 'SELECT'),
		       (SELECT count(*) FROM pg_class WHERE relname = 'ev_partitioned')}),
		'public.ev_id_seq|t|0', $node->name . ': the shell owns the sequence, the grant holds, no copy left');
	my $id = $node->safe_psql('postgres',
		q{INSERT INTO ev (dev, at, note) VALUES (5, now(), 'after') RETURNING id});
	cmp_ok($id, '>', 2**48, $node->name . ' draws ids from its own range after the conversion');
	is($node->safe_psql('postgres', qq{
		SET citus.show_shards_for_app_name_prefixes = '*';
		SELECT count(*) FROM pg_class WHERE relname = ANY (string_to_array('$old_shards', ','))}),
		'0', 'no shard of the old table is left on ' . $node->name);
}
is($coord->safe_psql('postgres', q{
	SELECT obj_description('ev'::regclass, 'pg_class'), has_table_privilege('reader', 'ev', 'SELECT'),
	       (SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'ev'),
	       (SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'ev'::regclass AND contype = 'p')}),
	'device events|t|ev_dev_at,ev_pkey|PRIMARY KEY (id, dev, at)',
	'comment, grant and index names carried over; the key widened by the time column');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE c.relname LIKE '%partitioned%' OR c.relname NOT LIKE 'ev\_%'),
	       count(*) FILTER (WHERE c.relname = 'ev_default')
	  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	 WHERE i.inhparent = 'ev'::regclass}), '0|1',
	'the partitions take the names of the table');

# run_maintenance() premakes distributed, co-located partitions
$coord->safe_psql('postgres', q{SELECT perfkit.partition_table('ev', 'at', '7 days', premake => 10)});
like($coord->safe_psql('postgres', q{SELECT status FROM perfkit.run_maintenance('ev')}), qr/^ok/,
	'run_maintenance() runs on the converted table');
my $parts2 = $coord->safe_psql('postgres', q{
	SELECT count(*), count(p.logicalrelid), count(*) FILTER (WHERE p.colocationid = c.colocationid)
	  FROM pg_inherits i LEFT JOIN pg_dist_partition p ON p.logicalrelid = i.inhrelid,
	       (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'ev'::regclass) c
	 WHERE i.inhparent = 'ev'::regclass});
my ($nparts2) = split /\|/, $parts2;
cmp_ok($nparts2, '>', $nparts, "premake made partitions ($nparts -> $nparts2)");
is($parts2, "$nparts2|$nparts2|$nparts2", 'every premade partition is distributed and co-located');

# A table of an ordinary role, converted by her: the conversion runs as
# the table's owner, restricted, and Citus connects to the workers as her.
$coord->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	GRANT CREATE ON SCHEMA public TO alice;
	SET ROLE alice;
	CREATE TABLE a_ev (id bigserial, dev int NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, dev, at));
	SELECT create_distributed_table('a_ev', 'dev');
	INSERT INTO a_ev (dev, at) SELECT i % 7, now() - i * interval '1 day' FROM generate_series(1, 60) i;
});
my $a_sum = $coord->safe_psql('postgres', 'SELECT count(*), sum(id), sum(extract(epoch FROM at)) FROM a_ev');
($rc, $err) = try_sql($coord, q{SET ROLE alice; SELECT perfkit.convert_to_partitioned('a_ev', 'at', '7 days')});
is($rc, 0, 'an ordinary role converts her distributed table') or diag $err;
is($coord->safe_psql('postgres', q{
	SELECT c.relkind, pg_get_userbyid(c.relowner),
	       (SELECT count(*) FILTER (WHERE pg_get_userbyid(p.relowner) <> 'alice')
	          FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid WHERE i.inhparent = c.oid)
	  FROM pg_class c WHERE c.oid = 'a_ev'::regclass}), 'p|alice|0',
	'her table is partitioned, she owns it and its partitions');
is($coord->safe_psql('postgres', 'SELECT count(*), sum(id), sum(extract(epoch FROM at)) FROM a_ev'), $a_sum,
	'with every row (count and sums)');
is($w2->safe_psql('postgres', q{SET ROLE alice;
	INSERT INTO a_ev (dev, at) VALUES (1, now()) RETURNING id > 2^48;
	SELECT pg_get_serial_sequence('a_ev', 'id')}),
	"t\npublic.a_ev_id_seq", 'she inserts through a worker, with ids from its range');

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
