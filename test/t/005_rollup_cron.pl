# pg_cron end to end: perfkit.schedule('rollups') makes pg_cron run the
# rollups job, and that job really refreshes: a rollup created and never
# refreshed by hand becomes equal to GROUP BY over its source, late rows
# included, and pg_cron records the run as succeeded.  Waits for pg_cron's
# next minute (at most about two).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PerfkitTest;

my $node = cron_node('rollup_cron');

$node->safe_psql('postgres', q{
	CREATE TABLE trips (started_at timestamptz NOT NULL, region text, km numeric);
	INSERT INTO trips SELECT timestamptz '2024-05-01' + i * interval '53 minutes', 'r' || i % 4, i % 17
	FROM generate_series(0, 3000) i;
	SELECT perfkit.create_rollup('trips_daily', 'trips', 'started_at', 'day', ARRAY['region'],
		ARRAY['count(*)', 'sum(km)'], late_window => '100 years');
	SELECT perfkit.schedule('rollups', '* * * * *');
});
is($node->safe_psql('postgres',
		"SELECT schedule FROM cron.job WHERE jobname = 'perfkit:rollups'"),
	'* * * * *', 'the rollups job is scheduled in pg_cron');
is($node->safe_psql('postgres', 'SELECT count(*) FROM trips_daily'), '0',
	'the rollup starts empty');

my $exact = q{
	SELECT count(*) FROM (
		(SELECT bucket, region, count, sum_km FROM trips_daily
		 EXCEPT ALL SELECT date_trunc('day', started_at, 'UTC'), region, count(*), sum(km) FROM trips GROUP BY 1, 2)
		UNION ALL
		(SELECT date_trunc('day', started_at, 'UTC'), region, count(*), sum(km) FROM trips GROUP BY 1, 2
		 EXCEPT ALL SELECT bucket, region, count, sum_km FROM trips_daily)) d};

ok($node->poll_query_until('postgres',
		"SELECT watermark IS NOT NULL FROM perfkit.rollups WHERE name = 'trips_daily'"),
	'pg_cron ran the job and it materialized the rollup');
is($node->safe_psql('postgres', $exact), '0', 'the rollup equals GROUP BY over the source');

# A late row in a materialized bucket: the next scheduled run picks it up.
$node->safe_psql('postgres',
	"INSERT INTO trips VALUES ('2024-05-02 12:00+00', 'r1', 1000)");
ok($node->poll_query_until('postgres',
		"SELECT ($exact) = 0 AND (SELECT pending_buckets FROM perfkit.rollups WHERE name = 'trips_daily') = 0"),
	'the next scheduled run folded the late row in');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM cron.job_run_details r JOIN cron.job j USING (jobid)
	WHERE j.jobname = 'perfkit:rollups' AND r.status = 'succeeded'}),
	'pg_cron recorded a succeeded run');
is($node->safe_psql('postgres',
		"SELECT last_error IS NULL FROM perfkit.rollups WHERE name = 'trips_daily'"),
	't', 'no refresh error recorded');

$node->stop;
done_testing();
