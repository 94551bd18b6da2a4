# A prepared writer at the head of a rollup across a restart.
#
# A writer inserting rows at or past a rollup's published watermark logs
# no change rows: a refresh that advances over those rows waits for its
# transaction instead (src/rollup/watermarks.c).  The registry it waits
# through is in shared memory and is gone after a restart, so a writer
# that prepares takes the rollup's advance lock in ShareLock, which the
# prepared transaction keeps across a restart, a crash included; every
# advance passes through that lock in ExclusiveLock.
#
# Four rounds, each on a table and hourly rollup of its own: a range
# refresh leaves the watermark three hours back and publishes it; a
# writer inserts rows in the bucket at the watermark (head rows, not
# logged) and one late row (logged), and prepares; the cluster stops fast
# or immediately (then starts with crash recovery).  After the restart
# the prepared transaction still holds the advance lock; refresh_rollup()
# and the rollups job under a 1 s lock_timeout leave the watermark where
# it was with a NOTICE and no error; a refresh without a timeout waits on
# the advance lock until COMMIT PREPARED or ROLLBACK PREPARED, then
# advances; after one more refresh the rollup equals GROUP BY over the raw
# rows.  Without the lock taken at PREPARE, the refresh after the restart
# advances over the prepared head rows, which are then never rolled up.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('rollup_prepared');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'perfkit'
max_prepared_transactions = 4
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION perfkit;');

# Run sql; return its stdout and its stderr, failing the test on a
# non-zero exit.
sub run
{
	my ($sql, $what) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql('postgres', $sql, stdout => \$out, stderr => \$err,
		on_error_stop => 1);
	is($rc, 0, "$what: no error") or diag($err);
	return ($out, $err);
}

my $round = 0;
for my $case (['fast', 'COMMIT'], ['fast', 'ROLLBACK'],
			  ['immediate', 'COMMIT'], ['immediate', 'ROLLBACK'])
{
	my ($mode, $finish) = @$case;
	$round++;
	my $tbl = "ev$round";
	my $rollup = "ev${round}_hourly";
	my $gid = "head_writer_$round";
	my $name = "$mode stop, $finish PREPARED";

	$node->safe_psql('postgres', qq{
		CREATE TABLE $tbl (ts timestamptz NOT NULL, region text, v int);
		INSERT INTO $tbl SELECT now() - i * interval '7 minutes', 'r' || i % 3, i
		FROM generate_series(1, 600) i;
		SELECT perfkit.create_rollup('$rollup', '$tbl', 'ts', 'hour', ARRAY['region'],
			ARRAY['count(*)', 'sum(v)'], 'UTC');
		SELECT perfkit.refresh_rollup('$rollup', NULL, now() - interval '3 hours');
	});
	my $w = $node->safe_psql('postgres',
		"SELECT watermark FROM perfkit.rollups WHERE name = '$rollup'");
	my $id = $node->safe_psql('postgres',
		"SELECT id FROM perfkit.rollup_defs WHERE rel = '$rollup'::regclass");
	ok($node->safe_psql('postgres', qq{
			SELECT '$w'::timestamptz <= now() - interval '2 hours'
			   AND '$w'::timestamptz > now() - interval '4 hours'}),
		"$name: the range refresh leaves the watermark about three hours back");

	# Head rows in the watermark's bucket (one in a group that has rows,
	# one in a new group r9), and a late row five hours before it (a new
	# group r8).
	$node->safe_psql('postgres', qq{
		BEGIN;
		INSERT INTO $tbl VALUES ('$w'::timestamptz + interval '10 minutes', 'r1', 1000),
			('$w'::timestamptz + interval '40 minutes', 'r9', 2000);
		INSERT INTO $tbl VALUES ('$w'::timestamptz - interval '5 hours', 'r8', 3000);
		PREPARE TRANSACTION '$gid';
	});

	# The prepared transaction holds the rollup's advance lock (its locks
	# are those of the virtual transaction holding its xid: the writer's
	# until a restart, -1/xid after).
	my $holds = qq{
		SELECT count(*) FROM pg_prepared_xacts p
		JOIN pg_locks x ON x.locktype = 'transactionid' AND x.transactionid = p.transaction
		JOIN pg_locks l ON l.virtualtransaction = x.virtualtransaction
		WHERE p.gid = '$gid' AND l.pid IS NULL AND l.granted
		  AND l.locktype = 'object' AND l.classid = 'perfkit.rollup_defs'::regclass
		  AND l.objid = $id AND l.objsubid = 1 AND l.mode = 'ShareLock'};
	is($node->safe_psql('postgres', $holds), '1',
		"$name: the prepared writer holds the advance lock in ShareLock");

	my $log_pos = -s $node->logfile;
	$node->stop($mode);
	$node->start;
	if ($mode eq 'immediate')
	{
		ok($node->log_contains('database system was not properly shut down', $log_pos),
			"$name: the server went through crash recovery");
	}
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts WHERE gid = '$gid'"),
		'1', "$name: the transaction is still prepared after the restart");
	is($node->safe_psql('postgres', $holds), '1',
		"$name: and still holds the advance lock");

	# Bounded by lock_timeout, a refresh and the rollups job stop before
	# the prepared rows: the watermark stays, with a NOTICE and no error.
	for my $call ("SELECT perfkit.refresh_rollup('$rollup')",
				  'CALL perfkit.refresh_rollups()')
	{
		my ($out, $err) = run("SET lock_timeout = '1s';\n$call;", "$name, $call");
		like($err,
			qr/NOTICE:  rollup public\.$rollup: writers in progress kept the watermark from advancing; it advances next time/,
			"$name, $call: stops at the prepared writer with a NOTICE");
		unlike($err, qr/(ERROR|WARNING|FATAL):/, "$name, $call: and no error or warning");
		is($node->safe_psql('postgres',
				"SELECT watermark = '$w' FROM perfkit.rollups WHERE name = '$rollup'"),
			't', "$name, $call: the watermark did not move");
	}

	# Without a timeout a refresh waits on the advance lock.
	my $bg = $node->background_psql('postgres');
	my $bg_pid = $bg->query_safe('SELECT pg_backend_pid()');
	chomp $bg_pid;
	$bg->query_until(qr/started/, qq{
		\\echo started
		SELECT perfkit.refresh_rollup('$rollup');
	});
	my $waiting = qq{
		SELECT EXISTS (SELECT 1 FROM pg_locks
					   WHERE pid = $bg_pid AND NOT granted AND locktype = 'object'
						 AND classid = 'perfkit.rollup_defs'::regclass AND objid = $id
						 AND objsubid = 1 AND mode = 'ExclusiveLock')};
	$node->poll_query_until('postgres', qq{
		SELECT ($waiting) OR watermark <> '$w' FROM perfkit.rollups WHERE name = '$rollup'})
	  or die "$name: the refresh neither waited nor advanced";
	is($node->safe_psql('postgres', $waiting), 't',
		"$name: a refresh without lock_timeout waits on the advance lock");
	is($node->safe_psql('postgres',
			"SELECT watermark = '$w' FROM perfkit.rollups WHERE name = '$rollup'"),
		't', "$name: the watermark has not moved while it waits");

	$node->safe_psql('postgres', "$finish PREPARED '$gid'");
	$node->poll_query_until('postgres', qq{
		SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity
						   WHERE pid = $bg_pid AND state = 'active')})
	  or die "$name: the refresh did not end";
	$bg->quit;
	unlike($bg->{stderr}, qr/(ERROR|WARNING|FATAL):/,
		"$name: the waiting refresh ended without an error");
	ok($node->safe_psql('postgres', qq{
			SELECT watermark >= '$w'::timestamptz + interval '1 hour'
			FROM perfkit.rollups WHERE name = '$rollup'}),
		"$name: then it advanced past the prepared rows' bucket");
	is($node->safe_psql('postgres', qq{
			SELECT count(*) FROM perfkit.rollup_changes
			WHERE rollup_id = $id AND bucket >= '$w'}),
		'0', "$name: the head rows were never logged");
	is($node->safe_psql('postgres', qq{
			SELECT count(*) FROM perfkit.rollup_changes
			WHERE rollup_id = $id AND bucket < '$w'}),
		$finish eq 'COMMIT' ? '1' : '0',
		"$name: the late row was logged, if committed");

	run("SELECT perfkit.refresh_rollup('$rollup')", "$name, last refresh");
	is($node->safe_psql('postgres', qq{
			SELECT count(*) FROM (
				(SELECT bucket, region, count, sum_v FROM $rollup
				 EXCEPT ALL
				 SELECT date_trunc('hour', ts, 'UTC'), region, count(*), sum(v) FROM $tbl
				 WHERE ts < (SELECT watermark FROM perfkit.rollups WHERE name = '$rollup')
				 GROUP BY 1, 2)
				UNION ALL
				(SELECT date_trunc('hour', ts, 'UTC'), region, count(*), sum(v) FROM $tbl
				 WHERE ts < (SELECT watermark FROM perfkit.rollups WHERE name = '$rollup')
				 GROUP BY 1, 2
				 EXCEPT ALL
				 SELECT bucket, region, count, sum_v FROM $rollup)) d}),
		'0', "$name: the rollup equals GROUP BY over the raw rows");
	is($node->safe_psql('postgres', qq{
			SELECT count(*) FROM $rollup WHERE region IN ('r8', 'r9')}),
		$finish eq 'COMMIT' ? '2' : '0',
		"$name: the prepared rows are in the rollup only if committed");
	is($node->safe_psql('postgres', qq{
			SELECT pending_buckets || ',' || inexact_changes || ',' || coalesce(last_error, '')
			FROM perfkit.rollups WHERE name = '$rollup'}),
		'0,0,', "$name: nothing pending, inexact or failed");
}

$node->stop;
done_testing();
