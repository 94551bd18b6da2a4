# Rollups on Citus distributed sources: a coordinator and two workers
# (metadata synced), a trips table distributed by vehicle, a daily rollup
# by vehicle.  Its state and change tables are distributed and co-located
# with trips; the backfill and every refresh are pushed down to the shards
# (checked with EXPLAIN of the statements the refresh runs); current and
# late (2 days, 2 months old) inserts, updates and deletes written by a
# role that only writes trips, through the coordinator and through a
# worker, and a TRUNCATE, are all folded in exactly: every rollup row is
# compared with GROUP BY over the raw rows on the coordinator.  A write
# still uncommitted while a refresh runs is folded in by the next one.
# The rollups job runs from pg_cron on the coordinator.  Unsupported
# shapes refuse with feature_not_supported and a hint; drop_rollup()
# leaves nothing on any node.  Then a source both distributed and
# partitioned by month (partition_table()): writes through the parent and
# straight into a partition, each logged once; a partition premade later,
# a user's ATTACH of a table holding rows, DETACH, TRUNCATE of a
# partition, all exact after a refresh; retention freezes the retired range.
# No node's server crashes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PerfkitTest;

plan skip_all => 'Citus is not installed' unless citus_installed();

my ($coord, $w1, $w2) = citus_cluster();

# alice owns trips and the rollup; bob only writes trips.
$coord->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	GRANT CREATE ON SCHEMA public TO alice;
});
my $as_alice = sub { $coord->safe_psql('postgres', $_[0], extra_params => [ '-U', 'alice' ]) };
my $as_bob = sub {
	my ($node, $sql) = @_;
	$node->safe_psql('postgres', $sql, extra_params => [ '-U', 'bob' ]);
};

$as_alice->(q{
	CREATE TABLE trips (id bigserial, vehicle integer NOT NULL, started_at timestamptz NOT NULL,
						km numeric, PRIMARY KEY (vehicle, id));
	SELECT create_distributed_table('trips', 'vehicle');
	INSERT INTO trips (vehicle, started_at, km)
	SELECT i % 40, now() - (i % 1440) * interval '1 hour' - (i % 7) * interval '1 minute', (i % 23) + 0.5
	FROM generate_series(1, 30000) i;
	GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON trips TO bob;
	GRANT USAGE ON SEQUENCE trips_id_seq TO bob;
	SELECT perfkit.create_rollup('trips_daily', 'trips', 'started_at', 'day', ARRAY['vehicle'],
		ARRAY['count(*)', 'sum(km)', 'avg(km)', 'min(km)', 'max(km)']);
});

# Distributed and co-located with trips: Citus's own catalog says so.
is($coord->safe_psql('postgres', q{
	SELECT string_agg(logicalrelid::text || ':' || (colocationid = (SELECT colocationid FROM pg_dist_partition
		WHERE logicalrelid = 'trips'::regclass))::text, ',' ORDER BY logicalrelid::text)
	FROM pg_dist_partition WHERE logicalrelid::text LIKE 'trips_daily%'}),
	'trips_daily_changes:true,trips_daily_state:true',
	'state and change tables are distributed and co-located with the source');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pg_trigger WHERE tgrelid = 'trips'::regclass AND tgname LIKE 'perfkit_rollup_%'}),
	'4', 'capture triggers on the distributed table');
my $shard_triggers = q{
	SET citus.override_table_visibility = off;
	SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	WHERE c.relname ~ '^trips_[0-9]+$' AND t.tgname LIKE 'perfkit_rollup_%'};
is($w1->safe_psql('postgres', $shard_triggers) + $w2->safe_psql('postgres', $shard_triggers),
	'12', 'and on each of the 4 shards (insert, update, delete), on the workers');

my $groupby = q{SELECT date_trunc('day', started_at, 'UTC') AS bucket, vehicle, count(*) AS count,
		sum(km) AS sum_km, avg(km) AS avg_km, min(km) AS min_km, max(km) AS max_km FROM trips};
my $diff = qq{
	WITH g AS ($groupby WHERE started_at < (SELECT watermark FROM perfkit.rollups WHERE name = 'trips_daily')
			   GROUP BY 1, 2),
		 r AS (SELECT bucket, vehicle, count, sum_km, avg_km, min_km, max_km FROM trips_daily)
	SELECT count(*) FROM ((SELECT * FROM g EXCEPT ALL SELECT * FROM r)
						  UNION ALL (SELECT * FROM r EXCEPT ALL SELECT * FROM g)) d};
my $live_diff = qq{
	WITH g AS ($groupby GROUP BY 1, 2),
		 r AS (SELECT bucket, vehicle, count, sum_km, avg_km, min_km, max_km FROM trips_daily_live)
	SELECT count(*) FROM ((SELECT * FROM g EXCEPT ALL SELECT * FROM r)
						  UNION ALL (SELECT * FROM r EXCEPT ALL SELECT * FROM g)) d};

# Backfill.
$as_alice->(q{SELECT perfkit.refresh_rollup('trips_daily')});
# On a worker the rollup's view reads the distributed state; its live
# view refuses (the watermark is in the coordinator's catalog only).
is($w1->safe_psql('postgres', 'SELECT count(*) FROM trips_daily'),
	$coord->safe_psql('postgres', 'SELECT count(*) FROM trips_daily'), 'the rollup reads the same on a worker');
my ($lout, $lerr);
$w1->psql('postgres', 'SELECT count(*) FROM trips_daily_live', stdout => \$lout, stderr => \$lerr);
like($lerr, qr/is not defined on this node.*HINT:  Query the live view on the coordinator/s,
	'the live view refuses on a worker, with a hint');
is($coord->safe_psql('postgres', "SELECT count(*) > 1000 FROM trips_daily"), 't', 'backfilled');
is($coord->safe_psql('postgres', $diff), '0', 'backfill equals GROUP BY over the raw rows');
is($coord->safe_psql('postgres', $live_diff), '0', 'the live view equals GROUP BY, today included');

# The statements a refresh runs are pushed down whole: one task per shard,
# inserting into the co-located state shard, nothing pulled to the
# coordinator or repartitioned.
for my $mode ('range', 'claimed')
{
	my $sql = $coord->safe_psql('postgres', qq{
		SELECT perfkit._rollup_dist_write_sql(d, '$mode') FROM perfkit.rollup_defs d
		WHERE d.rel = 'trips_daily'::regclass});
	my $plan = $coord->safe_psql('postgres',
		"PREPARE q(timestamptz, timestamptz) AS $sql; EXPLAIN EXECUTE q(now() - interval '9 days', now());");
	like($plan, qr/Task Count: 4.*Insert on trips_daily_state_\d+/s, "$mode refresh: one task per shard pair");
	unlike($plan, qr/pull to coordinator|repartition|Distributed Subplan|intermediate/i,
		"$mode refresh: nothing pulled to the coordinator");
}

# Late and current writes by bob, through the coordinator and through a worker.
my $writes = sub {
	my ($node, $v) = @_;
	# (Citus runs no STABLE function of a column in an UPDATE: a literal.)
	my $moved = $node->safe_psql('postgres', "SELECT now() - interval '20 days 3 hours'");
	$as_bob->($node, qq{
		INSERT INTO trips (vehicle, started_at, km) VALUES
			($v, now(), 3), ($v, now() - interval '2 days', 7.25), ($v + 1, now() - interval '2 months', 11),
			(39, now() - interval '2 days' - interval '3 hours', 1);
		UPDATE trips SET km = km + 100 WHERE vehicle = $v + 2 AND started_at < now() - interval '55 days';
		UPDATE trips SET km = NULL WHERE vehicle = $v + 3 AND started_at BETWEEN now() - interval '3 days' AND now() - interval '2 days';
		UPDATE trips SET started_at = '$moved' WHERE vehicle = $v + 4 AND id % 5 = 0;
		DELETE FROM trips WHERE vehicle = $v + 5 AND started_at BETWEEN now() - interval '62 days' AND now() - interval '58 days';
		DELETE FROM trips WHERE vehicle = $v + 6 AND id % 3 = 0;
	});
};
$writes->($coord, 1);
$writes->($w1, 11);
isnt($coord->safe_psql('postgres', $diff), '0', 'before a refresh the rollup lags the late writes');
is($coord->safe_psql('postgres', $live_diff), '0', 'the live view already has them');
is($coord->safe_psql('postgres', 'SELECT count(*) > 0 FROM trips_daily_changes'), 't',
	'the shards logged changes');
is($coord->safe_psql('postgres', q{
	SELECT pending_buckets = (SELECT count(DISTINCT bucket) FROM trips_daily_changes
							  WHERE bucket < (SELECT watermark FROM perfkit.rollups WHERE name = 'trips_daily'))
		   AND pending_buckets > 0
	FROM perfkit.rollups WHERE name = 'trips_daily'}), 't',
	'perfkit.rollups counts the pending buckets of the change table');
$as_alice->(q{SELECT perfkit.refresh_rollup('trips_daily')});
is($coord->safe_psql('postgres', $diff), '0',
	'after a refresh: every rollup row equals GROUP BY (writes through coordinator and worker)');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM trips_daily_changes'), '0', 'change rows consumed');
is($coord->safe_psql('postgres', "SELECT pending_buckets FROM perfkit.rollups WHERE name = 'trips_daily'"),
	'0', 'and none shown pending');

# A write still uncommitted on a worker while a refresh runs: not seen by
# it, not lost, folded in by the next refresh.
my $bg = $w2->background_psql('postgres', extra_params => [ '-U', 'bob' ]);
$bg->query_safe(q{BEGIN; INSERT INTO trips (vehicle, started_at, km) VALUES (21, now() - interval '40 days', 999)});
$as_alice->(q{SELECT perfkit.refresh_rollup('trips_daily')});
is($coord->safe_psql('postgres', $diff), '0', 'a refresh does not wait for an open writer');
$bg->query_safe('COMMIT');
$bg->quit;
isnt($coord->safe_psql('postgres', $diff), '0', 'the write committed after the refresh claimed');
$as_alice->(q{SELECT perfkit.refresh_rollup('trips_daily')});
is($coord->safe_psql('postgres', $diff), '0', 'and the next refresh folds it in');

# An explicit range recompute.
$as_alice->(q{SELECT perfkit.refresh_rollup('trips_daily', now() - interval '10 days', now() - interval '5 days')});
is($coord->safe_psql('postgres', $diff), '0', 'a range refresh keeps it exact');

# The rollups job backfills in batches of about perfkit.rollup_batch_rows
# rows (from the shards' estimates), committing between them.
$as_alice->(q{
	ANALYZE trips;
	SELECT perfkit.create_rollup('trips_byday', 'trips', 'started_at', 'day', ARRAY['vehicle'],
		ARRAY['count(*)', 'sum(km)']);
});
$coord->safe_psql('postgres', q{SET perfkit.rollup_batch_rows = 1000; CALL perfkit.refresh_rollups();});
is($coord->safe_psql('postgres', q{
	SELECT r.rows_read > 0 AND r.rows_read < (SELECT count(*) / 5 FROM trips)
	FROM perfkit.rollups r WHERE r.name = 'trips_byday'}), 't',
	'the job backfilled in batches (its last batch read a fraction of the rows)');
is($coord->safe_psql('postgres', qq{
	SELECT count(*) FROM ((SELECT bucket, vehicle, count, sum_km FROM trips_byday
						   EXCEPT ALL SELECT bucket, vehicle, count, sum_km FROM ($groupby
							 WHERE started_at < date_trunc('day', now(), 'UTC') GROUP BY 1, 2) g)
						  UNION ALL (SELECT bucket, vehicle, count, sum_km FROM ($groupby
							 WHERE started_at < date_trunc('day', now(), 'UTC') GROUP BY 1, 2) g
						   EXCEPT ALL SELECT bucket, vehicle, count, sum_km FROM trips_byday)) d}),
	'0', 'and equals GROUP BY');
$as_alice->(q{SELECT perfkit.drop_rollup('trips_byday')});

# The rollups job, from pg_cron on the coordinator.
$coord->safe_psql('postgres', q{SELECT perfkit.schedule('rollups', '* * * * *')});
$writes->($w2, 25);
ok($coord->poll_query_until('postgres', "SELECT ($diff) = 0 AND (SELECT count(*) FROM trips_daily_changes) = 0"),
	'the scheduled rollups job folded the writes in');
is($coord->safe_psql('postgres',
		"SELECT last_error IS NULL FROM perfkit.rollups WHERE name = 'trips_daily'"), 't',
	'no refresh error recorded');
$coord->safe_psql('postgres', q{SELECT perfkit.unschedule('rollups')});

# TRUNCATE through a worker: logged before the shards are emptied, by the
# rollup's owner only (Citus reaches co-located shards as one role per
# transaction); anyone else is refused, and nothing is lost.
my ($out, $err);
$w1->psql('postgres', 'TRUNCATE trips', stdout => \$out, stderr => \$err,
	extra_params => [ '-U', 'bob' ]);
like($err, qr/must be run by role "alice".*HINT:  Run TRUNCATE as "alice", or DELETE the rows instead/s,
	'TRUNCATE by a writer who is not the owner is refused with a hint');
is($coord->safe_psql('postgres', 'SELECT count(*) > 0 FROM trips'), 't', 'and truncates nothing');
$w1->safe_psql('postgres', 'TRUNCATE trips', extra_params => [ '-U', 'alice' ]);
$as_alice->(q{SELECT perfkit.refresh_rollup('trips_daily')});
is($coord->safe_psql('postgres', 'SELECT count(*) FROM trips_daily'), '0', 'TRUNCATE empties the rollup');
$as_bob->($w1, q{INSERT INTO trips (vehicle, started_at, km) VALUES (1, now() - interval '3 days', 1)});
$as_alice->(q{SELECT perfkit.refresh_rollup('trips_daily')});
is($coord->safe_psql('postgres', $diff), '0', 'and rows written after it are rolled up');

# Shapes that are not supported refuse with feature_not_supported and a hint.
$coord->safe_psql('postgres', q{
	CREATE FUNCTION public.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
	DECLARE h text;
	BEGIN
		EXECUTE q;
		RETURN 'ok';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
		RETURN SQLSTATE || ' ' || h;
	END $$;
	CREATE TABLE ref (vehicle integer, t timestamptz);
	SELECT create_reference_table('ref');
	CREATE TABLE app (vehicle integer, t timestamptz);
	SELECT create_distributed_table('app', 'vehicle', 'append');
	CREATE TABLE loc (vehicle integer, t timestamptz);
	SELECT citus_add_local_table_to_metadata('loc');
	GRANT ALL ON ref, app, loc TO alice;
	ALTER TABLE ref OWNER TO alice;
	ALTER TABLE app OWNER TO alice;
	ALTER TABLE loc OWNER TO alice;
});
my %refusals = (
	"SELECT perfkit.create_rollup('r1', 'trips', 'started_at', 'day')" => qr/^0A000 Add vehicle as a dimension/,
	"SELECT perfkit.create_rollup('r2', 'ref', 't', 'day', ARRAY['vehicle'])" => qr/^0A000 Distribute the table/,
	"SELECT perfkit.create_rollup('r3', 'app', 't', 'day', ARRAY['vehicle'])" => qr/^0A000 Distribute the table by hash/,
	"SELECT perfkit.create_rollup('r5', 'loc', 't', 'day', ARRAY['vehicle'])" => qr/^0A000 Distribute the table by hash/,
	"SELECT perfkit.create_rollup('r6', 'trips', 'started_at', 'day', ARRAY['vehicle'], late_window => '7 days')"
	  => qr/^0A000 Omit late_window/,
	"SELECT perfkit.create_rollup('r7', 'trips_daily', 'bucket', 'month', ARRAY['vehicle'])"
	  => qr/^0A000 Create the coarser rollup on the table itself/,
	"SELECT perfkit.freeze_rollup('trips_daily', now() - interval '30 days')" => qr/^0A000 Every change/,
);
for my $q (sort keys %refusals)
{
	like($as_alice->("SELECT public.sqlstate_of(\$q\$$q\$q\$)"), $refusals{$q}, "refused: $q");
}
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname ~ '^r[0-9]_'}), '0',
	'a refusal leaves no object behind');

# drop_rollup: nothing left on any node.
$as_alice->(q{SELECT perfkit.drop_rollup('trips_daily')});
is($coord->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE 'trips_daily%')
		 + (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'perfkit_rollup_%'
					AND tgrelid NOT IN ('perfkit.rollup_defs'::regclass, 'perfkit.rollup_measures'::regclass))
		 + (SELECT count(*) FROM perfkit.rollup_distributed)
		 + (SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'trips_daily%')}),
	'0', 'drop_rollup leaves nothing on the coordinator');
for my $w ($w1, $w2)
{
	is($w->safe_psql('postgres', q{
		SET citus.override_table_visibility = off;
		SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE 'trips_daily%')
			 + (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'perfkit_rollup_%'
					AND tgrelid NOT IN ('perfkit.rollup_defs'::regclass, 'perfkit.rollup_measures'::regclass))}),
		'0', 'nor on worker ' . $w->name);
}
$as_bob->($w2, q{INSERT INTO trips (vehicle, started_at, km) VALUES (2, now(), 1)});
pass('writes go on after the drop');


########################################################################
# A source both distributed (by vehicle) and partitioned (by month, by
# partition_table()): capture triggers on the parent and every
# partition; writes through the parent and straight into a partition,
# through the coordinator and a worker, each logged once; a partition
# premade later by run_maintenance(), a user's ATTACH of a table holding
# rows, DETACH, TRUNCATE of a partition; retention, which freezes the
# retired range.  After each, the rollup equals GROUP BY over the raw rows
# (the open buckets, after retention).
########################################################################
$as_alice->(q{
	CREATE TABLE ptrips (id bigserial, vehicle integer NOT NULL, started_at timestamptz NOT NULL,
						 km numeric, PRIMARY KEY (vehicle, id, started_at)) PARTITION BY RANGE (started_at);
	SELECT create_distributed_table('ptrips', 'vehicle');
	SELECT perfkit.partition_table('ptrips', 'started_at', '1 month', premake => 1,
								   start => date_trunc('month', now() - interval '4 months'));
	INSERT INTO ptrips (vehicle, started_at, km)
	SELECT i % 30, now() - (i % 2400) * interval '1 hour' - (i % 7) * interval '1 minute', (i % 17) + 0.5
	FROM generate_series(1, 20000) i;
	GRANT USAGE ON SEQUENCE ptrips_id_seq TO bob;
	DO $$DECLARE r regclass;
	BEGIN
		FOR r IN SELECT relid FROM pg_partition_tree('ptrips') LOOP
			EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO bob', r);
		END LOOP;
	END$$;
	SELECT perfkit.create_rollup('ptrips_daily', 'ptrips', 'started_at', 'day', ARRAY['vehicle'],
		ARRAY['count(*)', 'sum(km)', 'min(km)', 'max(km)']);
	SELECT perfkit.refresh_rollup('ptrips_daily');
});
my $pgroupby = q{SELECT date_trunc('day', started_at, 'UTC') AS bucket, vehicle, count(*) AS count,
		sum(km) AS sum_km, min(km) AS min_km, max(km) AS max_km FROM ptrips};
my $pdiff = qq{
	WITH g AS ($pgroupby WHERE started_at < (SELECT watermark FROM perfkit.rollups WHERE name = 'ptrips_daily')
			   GROUP BY 1, 2),
		 r AS (SELECT bucket, vehicle, count, sum_km, min_km, max_km FROM ptrips_daily)
	SELECT count(*) FROM ((SELECT * FROM g EXCEPT ALL SELECT * FROM r)
						  UNION ALL (SELECT * FROM r EXCEPT ALL SELECT * FROM g)) d};
my $prefresh = sub { $as_alice->(q{SELECT perfkit.refresh_rollup('ptrips_daily')}) };
my $pid = $coord->safe_psql('postgres', q{SELECT id FROM perfkit.rollup_defs WHERE rel = 'ptrips_daily'::regclass});
# tables of the tree, and those that carry the capture triggers, on the coordinator
my $ptree = sub {
	return $coord->safe_psql('postgres', qq{
		SELECT (SELECT count(*) FROM pg_partition_tree('ptrips')) || ':' ||
			   (SELECT count(*) FROM pg_partition_tree('ptrips') p
				WHERE (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = p.relid
					   AND t.tgname LIKE 'perfkit_rollup_${pid}_%') = 4)});
};
# (shards end in _<shard id>; the partitions' shells, on the workers too, do not)
my $pshard_triggers = qq{
	SET citus.override_table_visibility = off;
	SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	WHERE c.relname ~ '^ptrips.*_[0-9]{6,}\$' AND t.tgname LIKE 'perfkit_rollup_${pid}_%'};
my $pworkers = sub { $w1->safe_psql('postgres', $pshard_triggers) + $w2->safe_psql('postgres', $pshard_triggers) };
my ($ntree, $ntrig) = split /:/, $ptree->();
cmp_ok($ntree, '>=', 6, "the partitioned source has its partitions ($ntree tables)");
is($ntrig, $ntree, 'capture triggers on the parent and on every partition');
is($pworkers->(), 4 * 3 * $ntree, 'and on every shard of each (insert, update, delete) on the workers');
is($coord->safe_psql('postgres', $pdiff), '0', 'backfill over the partitioned source equals GROUP BY');
for my $mode ('range', 'claimed')
{
	my $sql = $coord->safe_psql('postgres', qq{
		SELECT perfkit._rollup_dist_write_sql(d, '$mode') FROM perfkit.rollup_defs d
		WHERE d.rel = 'ptrips_daily'::regclass});
	my $plan = $coord->safe_psql('postgres',
		"PREPARE q(timestamptz, timestamptz) AS $sql; EXPLAIN EXECUTE q(now() - interval '9 days', now());");
	like($plan, qr/Task Count: 4.*Insert on ptrips_daily_state_\d+/s, "partitioned source, $mode refresh: one task per shard pair");
	unlike($plan, qr/pull to coordinator|repartition|Distributed Subplan|intermediate/i,
		"partitioned source, $mode refresh: nothing pulled to the coordinator");
}

# One write of one row into an old bucket is logged once: through the
# parent (the parent shard's trigger), straight into the partition (the
# partition shard's), never by both.
# The partition holding time $_[0] (tableoid is a shard's on Citus).
my $part_at = sub {
	return $coord->safe_psql('postgres', qq{
		SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'ptrips'::regclass
		  AND $_[0] >= (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']*)''\\)'))[1]::timestamptz
		  AND $_[0] < (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']*)''\\)'))[1]::timestamptz});
};
my $old_part = $part_at->("now() - interval '40 days'");
ok($old_part ne '', "a partition of 40 days ago ($old_part)");
my $old_at = $coord->safe_psql('postgres', qq{SELECT max(started_at) FROM $old_part});
for my $case ([ $coord, 'ptrips', 'parent, coordinator' ], [ $w1, 'ptrips', 'parent, worker' ],
			  [ $coord, $old_part, 'partition, coordinator' ], [ $w2, $old_part, 'partition, worker' ])
{
	my ($node, $target, $what) = @$case;
	$as_bob->($node, qq{INSERT INTO $target (vehicle, started_at, km) VALUES (3, '$old_at', 2)});
	is($coord->safe_psql('postgres', 'SELECT count(*) FROM ptrips_daily_changes'), '1',
		"a one-row insert ($what) is logged exactly once");
	$prefresh->();
	is($coord->safe_psql('postgres', $pdiff), '0', "and folded in ($what)");
}
# (a literal: see $writes)
my $pmoved = $coord->safe_psql('postgres', "SELECT now() - interval '45 days 5 hours'");
for my $node ($coord, $w1)
{
	$as_bob->($node, qq{
		UPDATE ptrips SET km = km + 10 WHERE vehicle = 5 AND started_at < now() - interval '50 days';
		UPDATE $old_part SET km = NULL WHERE vehicle = 6;
		UPDATE ptrips SET started_at = '$pmoved' WHERE vehicle = 7 AND id % 4 = 0
			AND started_at > now() - interval '20 days';
		DELETE FROM ptrips WHERE vehicle = 8 AND id % 3 = 0;
		DELETE FROM $old_part WHERE vehicle = 9;
		INSERT INTO ptrips (vehicle, started_at, km) VALUES (10, now() - interval '3 days', 1), (11, now(), 4);
	});
}
isnt($coord->safe_psql('postgres', $pdiff), '0', 'the rollup lags updates, deletes and moves across partitions');
$prefresh->();
is($coord->safe_psql('postgres', $pdiff), '0',
	'after a refresh it equals GROUP BY (through parent and partition, coordinator and worker)');

# A partition premade later by run_maintenance(), written at once.
$coord->safe_psql('postgres', q{UPDATE perfkit.partition_config SET premake = 3 WHERE parent = 'ptrips'::regclass});
like($as_alice->(q{SELECT status, created FROM perfkit.run_maintenance('ptrips')}), qr/^ok\|[1-9]/,
	'run_maintenance() premakes partitions');
($ntree, $ntrig) = split /:/, $ptree->();
is($ntrig, $ntree, "the premade partitions have the capture triggers ($ntree tables)");
is($pworkers->(), 4 * 3 * $ntree, 'on every shard of them too');
my $new_part = $coord->safe_psql('postgres', q{
	SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	WHERE i.inhparent = 'ptrips'::regclass AND pg_get_expr(c.relpartbound, c.oid) NOT LIKE '%DEFAULT%'
	ORDER BY (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']*)''\)'))[1]::timestamptz DESC
	LIMIT 1});
my $new_lo = $coord->safe_psql('postgres', qq{
	SELECT (regexp_match(pg_get_expr(relpartbound, oid), 'FROM \\(''([^'']*)''\\)'))[1]
	FROM pg_class WHERE oid = '$new_part'::regclass});
$as_alice->(qq{GRANT SELECT, INSERT, UPDATE, DELETE ON $new_part TO bob});
$as_bob->($w1, qq{INSERT INTO $new_part (vehicle, started_at, km) SELECT v, '$new_lo', 5 FROM generate_series(1, 5) v});
is($coord->safe_psql('postgres', 'SELECT count(*) FROM ptrips_daily_changes'), '5',
	'a write into it is captured (its shards log the pairs)');
# (past the watermark: the advance will read them; the refresh drops those change rows)
$prefresh->();
is($coord->safe_psql('postgres', $pdiff), '0', 'and the rollup stays exact');

# A user's ATTACH of a table holding rows, older than the partitions.
$as_alice->(q{
	CREATE TABLE ptrips_older (LIKE ptrips INCLUDING DEFAULTS);
	INSERT INTO ptrips_older (vehicle, started_at, km)
	SELECT i % 12, date_trunc('month', now() - interval '6 months') + (i % 500) * interval '1 hour', i % 9
	FROM generate_series(1, 2000) i;
	ALTER TABLE ptrips ATTACH PARTITION ptrips_older
		FOR VALUES FROM (date_trunc('month', now() - interval '6 months'))
					TO (date_trunc('month', now() - interval '4 months'));
	GRANT SELECT, INSERT, UPDATE, DELETE ON ptrips_older TO bob;
});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'ptrips_older'::regclass}),
	'1', 'Citus distributed the attached table');
($ntree, $ntrig) = split /:/, $ptree->();
is($ntrig, $ntree, 'the attached table has the capture triggers');
is($pworkers->(), 4 * 3 * $ntree, 'on every shard of it too');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT DISTINCT vehicle, date_trunc('day', started_at, 'UTC') FROM ptrips_older) p}),
	$coord->safe_psql('postgres', 'SELECT count(*) FROM ptrips_daily_changes'),
	'its (vehicle, day) pairs are logged');
$prefresh->();
is($coord->safe_psql('postgres', $pdiff), '0', 'after a refresh its rows are rolled up');
$as_bob->($w2, q{UPDATE ptrips_older SET km = km + 1 WHERE vehicle = 2});
$prefresh->();
is($coord->safe_psql('postgres', $pdiff), '0', 'and writes into it are captured');

# DETACH: its rows leave the source, the triggers leave it.
my $detach = $part_at->("now() - interval '95 days'");
isnt($coord->safe_psql('postgres', "SELECT count(*) FROM $detach"), '0', "a partition holding rows ($detach)");
$as_alice->(qq{ALTER TABLE ptrips DETACH PARTITION $detach});
is($coord->safe_psql('postgres', qq{SELECT count(*) FROM pg_trigger WHERE tgrelid = '$detach'::regclass
	AND tgname LIKE 'perfkit_rollup_%'}), '0', 'the detached partition loses the capture triggers');
$as_bob->($w1, qq{INSERT INTO $detach (vehicle, started_at, km) SELECT 1, min(started_at), 1 FROM $detach});
$prefresh->();
is($coord->safe_psql('postgres', $pdiff), '0', 'after a refresh its rows are gone from the rollup');
is($coord->safe_psql('postgres', qq{SELECT count(*) FROM ptrips_daily WHERE bucket IN
	(SELECT DISTINCT date_trunc('day', started_at, 'UTC') FROM $detach)}), '0',
	'no bucket of the detached range is left');

# TRUNCATE of a partition, through a worker, by the owner.
$w2->safe_psql('postgres', "TRUNCATE $old_part", extra_params => [ '-U', 'alice' ]);
$prefresh->();
is($coord->safe_psql('postgres', $pdiff), '0', 'TRUNCATE of a partition is folded in');
is($coord->safe_psql('postgres', qq{SELECT count(*) FROM $old_part}), '0', '(it was truncated)');

# Retention retires the oldest partitions: the rollup freezes their
# buckets instead of recomputing them empty; they keep what they had.  A
# late write into a frozen bucket is counted (perfkit.rollups, health()),
# not applied; the open buckets still equal GROUP BY.
$prefresh->();
my $frozen_q = q{SELECT coalesce(string_agg(format('%s|%s|%s|%s', bucket, vehicle, count, sum_km), ',' ORDER BY bucket, vehicle), '')
	FROM ptrips_daily WHERE bucket < date_trunc('month', now() - interval '2 months', 'UTC')};
my $frozen_before = $coord->safe_psql('postgres', $frozen_q);
isnt($frozen_before, '', 'the rollup has buckets in the range retention will retire');
my $rows_before = $coord->safe_psql('postgres', q{SELECT count(*) FROM ptrips});
$as_alice->(q{SELECT perfkit.set_retention('ptrips', '2 months', 'drop', force => true)});
is($as_alice->(q{SELECT count(*) FROM perfkit.retention_preview('ptrips') WHERE blocked_by IS NOT NULL}), '0',
	'retention_preview: nothing blocks (the distributed rollup freezes)');
$as_alice->(q{SELECT perfkit.run_maintenance('ptrips')});
cmp_ok($coord->safe_psql('postgres', q{SELECT count(*) FROM ptrips}), '<', $rows_before, 'retention dropped old partitions');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM ptrips WHERE started_at < date_trunc('month', now() - interval '2 months', 'UTC') - interval '1 month'}),
	'0', 'their rows are gone on every node');
is($coord->safe_psql('postgres', q{SELECT final_before > '-infinity' FROM perfkit.rollups WHERE name = 'ptrips_daily'}), 't',
	'the rollup froze the retired range');
my $fb = $coord->safe_psql('postgres', q{SELECT final_before FROM perfkit.rollups WHERE name = 'ptrips_daily'});
$prefresh->();
my $frozen_q2 = qq{SELECT coalesce(string_agg(format('%s|%s|%s|%s', bucket, vehicle, count, sum_km), ',' ORDER BY bucket, vehicle), '')
	FROM ptrips_daily WHERE bucket < '$fb'};
my $frozen_prefix = $coord->safe_psql('postgres', $frozen_q2);
isnt($frozen_prefix, '', 'frozen buckets are kept after a refresh');
is($coord->safe_psql('postgres', $frozen_q), $frozen_before,
	'the buckets of the retired range are as they were before retention');
my $open_diff = qq{
	WITH g AS ($pgroupby WHERE started_at >= '$fb'
			   AND started_at < (SELECT watermark FROM perfkit.rollups WHERE name = 'ptrips_daily') GROUP BY 1, 2),
		 r AS (SELECT bucket, vehicle, count, sum_km, min_km, max_km FROM ptrips_daily WHERE bucket >= '$fb')
	SELECT count(*) FROM ((SELECT * FROM g EXCEPT ALL SELECT * FROM r)
						  UNION ALL (SELECT * FROM r EXCEPT ALL SELECT * FROM g)) d};
is($coord->safe_psql('postgres', $open_diff), '0', 'the open buckets equal GROUP BY');
# a late insert into a frozen bucket, through a worker
$as_bob->($w1, qq{INSERT INTO ptrips (vehicle, started_at, km) VALUES (3, '$fb'::timestamptz - interval '3 days', 1)});
$prefresh->();
is($coord->safe_psql('postgres', $frozen_q2), $frozen_prefix, 'a late write into a frozen bucket leaves it as it was');
is($coord->safe_psql('postgres', q{SELECT inexact_changes FROM perfkit.rollups WHERE name = 'ptrips_daily'}), '1',
	'and is counted in perfkit.rollups');
is($coord->safe_psql('postgres', q{SELECT status FROM perfkit.health() WHERE check_name = 'rollup_inexact'}), 'warning',
	'health() warns of it');
is($coord->safe_psql('postgres', $open_diff), '0', 'the open buckets still equal GROUP BY');

# The rollups job backfills a rollup on the partitioned source in batches
# too (the estimates of its partitions' shards).
$as_alice->(q{
	ANALYZE ptrips;
	SELECT perfkit.create_rollup('ptrips_byday', 'ptrips', 'started_at', 'day', ARRAY['vehicle'],
		ARRAY['count(*)', 'sum(km)']);
});
$coord->safe_psql('postgres', q{SET perfkit.rollup_batch_rows = 1000; CALL perfkit.refresh_rollups();});
is($coord->safe_psql('postgres', q{
	SELECT r.rows_read > 0 AND r.rows_read < (SELECT count(*) / 5 FROM ptrips)
	FROM perfkit.rollups r WHERE r.name = 'ptrips_byday'}), 't',
	'the job backfilled the partitioned source in batches');
is($coord->safe_psql('postgres', qq{
	SELECT count(*) FROM ((SELECT bucket, vehicle, count, sum_km FROM ptrips_byday
						   EXCEPT ALL SELECT bucket, vehicle, count, sum_km FROM ($pgroupby
							 WHERE started_at < date_trunc('day', now(), 'UTC') GROUP BY 1, 2) g)
						  UNION ALL (SELECT bucket, vehicle, count, sum_km FROM ($pgroupby
							 WHERE started_at < date_trunc('day', now(), 'UTC') GROUP BY 1, 2) g
						   EXCEPT ALL SELECT bucket, vehicle, count, sum_km FROM ptrips_byday)) d}),
	'0', 'and equals GROUP BY');
$as_alice->(q{SELECT perfkit.drop_rollup('ptrips_byday')});

$as_alice->(q{SELECT perfkit.drop_rollup('ptrips_daily')});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'perfkit_rollup_%'
	AND tgrelid NOT IN ('perfkit.rollup_defs'::regclass, 'perfkit.rollup_measures'::regclass)}),
	'0', 'drop_rollup removes the triggers from every partition');
is($pworkers->(), 0, 'and from their shards');

for my $n ($coord, $w1, $w2)
{
	$n->stop;
	unlike(slurp_file($n->logfile), qr/terminated by signal/, 'no crash on ' . $n->name);
}
done_testing();
