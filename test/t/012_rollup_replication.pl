# Rows a logical replication subscription applies are captured: the apply
# worker fires no statement triggers, so a rollup on a table a subscription
# writes into has a row trigger enabled for replicas only (ENABLE
# REPLICA), added when the table becomes a target, and its statement triggers
# are ENABLE ALWAYS (TRUNCATE is applied through them).  A publisher's
# table is replicated into a partitioned table on a subscriber with a
# daily rollup; late inserts, updates, deletes and a TRUNCATE of the
# publisher's rows reach the rollup: after a refresh it equals GROUP BY
# over the subscriber's rows.  In ordinary sessions the row trigger does
# not fire.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PerfkitTest;

my $pub = PostgreSQL::Test::Cluster->new('rollup_pub');
$pub->init(allows_streaming => 'logical');
$pub->start;
my $sub = cron_node('rollup_sub');

$pub->safe_psql('postgres', q{
	CREATE TABLE trips (id int PRIMARY KEY, started_at timestamptz NOT NULL, region text, km numeric);
	CREATE TABLE side (id int PRIMARY KEY, started_at timestamptz NOT NULL, region text, km numeric);
	INSERT INTO trips SELECT i, now() - interval '400 days' + i * interval '71 minutes', 'r' || i % 4, i % 17
	FROM generate_series(0, 8000) i WHERE now() - interval '400 days' + i * interval '71 minutes' < now();
	INSERT INTO side SELECT i, now() - interval '30 days' + i * interval '1 hour', 'r1', 1
	FROM generate_series(0, 100) i;
	ALTER TABLE trips REPLICA IDENTITY FULL;
	CREATE PUBLICATION trips_pub FOR TABLE trips, side;
});
$sub->safe_psql('postgres', q{
	CREATE TABLE trips (id int, started_at timestamptz NOT NULL, region text, km numeric,
						PRIMARY KEY (id, started_at)) PARTITION BY RANGE (started_at);
	CREATE TABLE trips_old PARTITION OF trips FOR VALUES FROM ('-infinity') TO ('2026-01-01');
	CREATE TABLE trips_new PARTITION OF trips FOR VALUES FROM ('2026-01-01') TO ('infinity');
	CREATE TABLE side (id int PRIMARY KEY, started_at timestamptz NOT NULL, region text, km numeric);
});
my $connstr = $pub->connstr() . ' dbname=postgres';
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION trips_sub CONNECTION '$connstr' PUBLICATION trips_pub");
$sub->wait_for_subscription_sync($pub, 'trips_sub');

$sub->safe_psql('postgres', q{
	SELECT perfkit.create_rollup('trips_daily', 'trips', 'started_at', 'day', ARRAY['region'],
		ARRAY['count(*)', 'sum(km)']);
	SELECT perfkit.create_rollup('side_daily', 'side', 'started_at', 'day', '{}', ARRAY['count(*)']);
	SELECT perfkit.refresh_rollup('trips_daily');
	SELECT perfkit.refresh_rollup('side_daily');
});
is($sub->safe_psql('postgres',
		"SELECT string_agg(DISTINCT tgenabled::text, ',') FROM pg_trigger WHERE tgname LIKE 'perfkit_rollup_%_apply'"),
	'R', 'the row triggers (and their clones on partitions) fire on replicas only');

my $exact = q{
	SELECT count(*) FROM (
		(SELECT bucket, region, count, sum_km FROM trips_daily
		 EXCEPT ALL SELECT date_trunc('day', started_at, 'UTC'), region, count(*), sum(km) FROM trips
		 WHERE started_at < (SELECT watermark FROM perfkit.rollups WHERE name = 'trips_daily') GROUP BY 1, 2)
		UNION ALL
		(SELECT date_trunc('day', started_at, 'UTC'), region, count(*), sum(km) FROM trips
		 WHERE started_at < (SELECT watermark FROM perfkit.rollups WHERE name = 'trips_daily') GROUP BY 1, 2
		 EXCEPT ALL SELECT bucket, region, count, sum_km FROM trips_daily)) d};
is($sub->safe_psql('postgres', $exact), '0', 'the rollup on the subscriber equals GROUP BY');

# Late changes on the publisher, applied by the subscription.
$pub->safe_psql('postgres', q{
	INSERT INTO trips VALUES (100001, now() - interval '2 days', 'r9', 1000),
		(100002, now() - interval '60 days', 'r1', 2000), (100003, now() - interval '390 days', 'r2', 3000);
	UPDATE trips SET km = km + 100 WHERE id % 97 = 0;
	DELETE FROM trips WHERE id % 89 = 0;
	TRUNCATE side;
});
$pub->wait_for_catchup('trips_sub');
isnt($sub->safe_psql('postgres', "SELECT pending_buckets FROM perfkit.rollups WHERE name = 'trips_daily'"),
	'0', 'the applied changes are logged');
$sub->safe_psql('postgres', q{
	SELECT perfkit.refresh_rollup('trips_daily');
	SELECT perfkit.refresh_rollup('side_daily');
});
is($sub->safe_psql('postgres', $exact), '0', 'after a refresh the rollup equals GROUP BY again');
is($sub->safe_psql('postgres', 'SELECT count(*) FROM side_daily'), '0',
	'the applied TRUNCATE emptied the other rollup');
is($sub->safe_psql('postgres', "SELECT inexact_changes FROM perfkit.rollups WHERE name = 'trips_daily'"),
	'0', 'nothing counted as inexact');

# A table that becomes a subscription target after its rollup was made
# gets the row trigger then (ALTER SUBSCRIPTION ... REFRESH PUBLICATION);
# before, it has none: writers of tables no subscription writes into do
# not pay for it.
$sub->safe_psql('postgres', q{
	CREATE TABLE extra (id int PRIMARY KEY, started_at timestamptz NOT NULL);
	SELECT perfkit.create_rollup('extra_daily', 'extra', 'started_at', 'day');
	SELECT perfkit.refresh_rollup('extra_daily');
});
my $extra_apply = q{SELECT count(*) FROM pg_trigger t JOIN perfkit.rollup_defs d
	ON t.tgname = format('perfkit_rollup_%s_apply', d.id) AND t.tgrelid = d.raw_source
	WHERE d.rel = 'extra_daily'::regclass};
is($sub->safe_psql('postgres', $extra_apply), '0', 'no row trigger on a table no subscription writes into');
$pub->safe_psql('postgres', q{
	CREATE TABLE extra (id int PRIMARY KEY, started_at timestamptz NOT NULL);
	ALTER PUBLICATION trips_pub ADD TABLE extra;
});
$sub->safe_psql('postgres', 'ALTER SUBSCRIPTION trips_sub REFRESH PUBLICATION');
is($sub->safe_psql('postgres', $extra_apply), '1', 'the row trigger is added when the table becomes a target');
$sub->wait_for_subscription_sync($pub, 'trips_sub');
$pub->safe_psql('postgres', q{INSERT INTO extra VALUES (1, now() - interval '3 days'), (2, now() - interval '40 days')});
$pub->wait_for_catchup('trips_sub');
$sub->safe_psql('postgres', "SELECT perfkit.refresh_rollup('extra_daily')");
is($sub->safe_psql('postgres', q{
	SELECT count(*) FROM ((SELECT bucket, count FROM extra_daily
		EXCEPT SELECT date_trunc('day', started_at, 'UTC'), count(*) FROM extra
		WHERE started_at < (SELECT watermark FROM perfkit.rollups WHERE name = 'extra_daily') GROUP BY 1)
		UNION ALL (SELECT date_trunc('day', started_at, 'UTC'), count(*) FROM extra
		WHERE started_at < (SELECT watermark FROM perfkit.rollups WHERE name = 'extra_daily') GROUP BY 1
		EXCEPT SELECT bucket, count FROM extra_daily)) d}),
	'0', 'its applied late rows reach the rollup');

# In an ordinary session the row trigger does not fire (the statement
# trigger logs the one bucket, once).
$sub->safe_psql('postgres', q{
	ALTER SUBSCRIPTION trips_sub DISABLE;
	INSERT INTO trips VALUES (200001, now() - interval '5 days', 'r1', 1), (200002, now() - interval '5 days', 'r1', 1);
});
is($sub->safe_psql('postgres',
		q{SELECT count(*) FROM perfkit.rollup_changes c JOIN perfkit.rollup_defs d ON d.id = c.rollup_id
		  WHERE d.rel = 'trips_daily'::regclass}),
	'1', 'an ordinary insert logs one change row');

done_testing();
