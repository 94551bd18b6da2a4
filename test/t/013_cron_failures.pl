# Job failures are seen from every database, and pg_cron's connection is
# diagnosed.
#
#  - pg_cron reads its jobs from database postgres, the app lives in
#    insurance_db, and pg_cron runs insurance_db's jobs there
#    (cron.schedule_in_database): a job failing every minute shows in
#    insurance_db's perfkit.jobs (failures_1d, from perfkit's own count)
#    and its failed_jobs health check is no longer ok.
#  - A server that pg_cron cannot reach (libpq to localhost while
#    listen_addresses is empty): status() says so before any run, and the
#    runs that fail with "connection failed" (no start time) count in
#    perfkit.jobs and raise health()'s pg_cron_runs check.
# Each part waits for pg_cron's next minute (at most about two).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PerfkitTest;

# 1. Failures of an app database's jobs, pg_cron elsewhere.
my $app = cron_node('cron_app');
$app->safe_psql('postgres', 'CREATE DATABASE insurance_db');
$app->safe_psql('insurance_db', q{
	CREATE EXTENSION perfkit;
	-- a job that fails at every run (what it runs is the registry's)
	UPDATE perfkit.job_registry SET command = 'SELECT 1 / 0' WHERE job = 'history';
});
$app->safe_psql('postgres', q{
	SELECT cron.schedule_in_database('perfkit:history', '* * * * *',
		$$CALL perfkit.run_job('history')$$, 'insurance_db');
});
like($app->safe_psql('insurance_db',
		"SELECT value FROM perfkit.status() WHERE name = 'pg_cron'"),
	qr/runs jobs from database "postgres"/, 'insurance_db knows pg_cron lives in postgres');

# 2. A server pg_cron cannot reach.
my $cut = PostgreSQL::Test::Cluster->new('cron_cut');
$cut->init;
$cut->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,perfkit'
cron.database_name = 'postgres'
cron.use_background_workers = off
listen_addresses = ''
});
$cut->start;
$cut->safe_psql('postgres', 'CREATE EXTENSION pg_cron; CREATE EXTENSION perfkit;');
like($cut->safe_psql('postgres',
		"SELECT value FROM perfkit.status() WHERE name = 'pg_cron_connection'"),
	qr/^cannot connect: libpq to host "localhost", but listen_addresses is empty; set cron.use_background_workers = on/,
	'status() says pg_cron cannot connect, and the fix');
like($app->safe_psql('postgres',
		"SELECT value FROM perfkit.status() WHERE name = 'pg_cron_connection'"),
	qr/^background workers/, 'and says how a working pg_cron connects');
$cut->safe_psql('postgres', "SELECT perfkit.schedule('history', '* * * * *')");

ok($app->poll_query_until('insurance_db',
		"SELECT failures_1d >= 1 FROM perfkit.jobs WHERE job = 'history'"),
	"insurance_db's perfkit.jobs counts the failures of its job run by pg_cron from postgres");
is($app->safe_psql('insurance_db',
		"SELECT last_status || ' / ' || (last_error LIKE '%division by zero%') FROM perfkit.jobs WHERE job = 'history'"),
	'failed / true', 'with the last status and error');
isnt($app->safe_psql('insurance_db',
		"SELECT status FROM perfkit.health() WHERE check_name = 'failed_jobs'"),
	'ok', "insurance_db's failed_jobs check is not ok");

ok($cut->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM cron.job_run_details
	WHERE status = 'failed' AND start_time IS NULL AND return_message = 'connection failed'}),
	'pg_cron records runs that could not connect');
is($cut->safe_psql('postgres',
		"SELECT failures_1d >= 1 FROM perfkit.jobs WHERE job = 'history'"),
	't', 'perfkit.jobs counts them (they have no start time)');
is($cut->safe_psql('postgres',
		"SELECT status FROM perfkit.health() WHERE check_name = 'pg_cron_runs'"),
	'critical', 'health() raises pg_cron_runs');
like($cut->safe_psql('postgres',
		"SELECT value FROM perfkit.health() WHERE check_name = 'pg_cron_runs'"),
	qr/^[1-9][0-9]* runs could not connect \(history \([1-9]/, 'and counts the runs that could not connect');
like($cut->safe_psql('postgres',
		"SELECT hint FROM perfkit.health() WHERE check_name = 'pg_cron_runs'"),
	qr/cron\.use_background_workers/, 'with the fix in its hint');
isnt($cut->safe_psql('postgres',
		"SELECT status FROM perfkit.health() WHERE check_name = 'failed_jobs'"),
	'ok', 'and failed_jobs is not ok');

$cut->stop;
$app->stop;
done_testing();
