# The shared rollups job is fair (issue 12): mallory, a plain role, owns two
# rollups built to stall it, one whose state table has a trigger sleeping
# 20 s, one whose state-table trigger writes a late raw row on every
# refresh, so that its changes never run out.  With a short step budget
# and a bounded number of batches, the job's run ends within a bound,
# alice's rollup (refreshed after mallory's) is refreshed and equals GROUP
# BY over her rows, and mallory's sleeping rollup is recorded as failed, as
# is a third whose trigger catches the budget's cancel and carries on.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PerfkitTest;
use Time::HiRes qw(time);

my $node = cron_node('security_rollups_job');

$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE mallory LOGIN;
	GRANT CREATE ON SCHEMA public TO alice, mallory;
	SELECT perfkit.schedule('rollups', '0 0 1 1 *');	-- run by hand below

	-- mallory's rollups come first in the job's order (lower ids).
	SET ROLE mallory;
	CREATE TABLE m_raw (ts timestamptz NOT NULL, v int);
	INSERT INTO m_raw SELECT timestamptz '2024-05-01' + i * interval '1 hour', i FROM generate_series(0, 100) i;
	SELECT perfkit.create_rollup('m_sleepy', 'm_raw', 'ts', 'day', late_window => '100 years');
	CREATE FUNCTION m_sleep() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN PERFORM pg_sleep(20); RETURN NEW; END $$;
	CREATE TRIGGER m_sleep BEFORE INSERT ON m_sleepy_state FOR EACH ROW EXECUTE FUNCTION m_sleep();

	CREATE TABLE m2_raw (ts timestamptz NOT NULL, v int);
	INSERT INTO m2_raw SELECT timestamptz '2024-05-01' + i * interval '1 hour', i FROM generate_series(0, 100) i;
	SELECT perfkit.create_rollup('m_endless', 'm2_raw', 'ts', 'day', late_window => '100 years');
	CREATE FUNCTION m_again() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO public.m2_raw VALUES ('2024-05-02 10:00', 1); RETURN NULL; END $$;
	CREATE TRIGGER m_again AFTER INSERT ON m_endless_state FOR EACH STATEMENT EXECUTE FUNCTION m_again();

	-- one that catches the budget's cancel and carries on
	CREATE TABLE m3_raw (ts timestamptz NOT NULL, v int);
	INSERT INTO m3_raw SELECT timestamptz '2024-05-01' + i * interval '1 hour', i FROM generate_series(0, 100) i;
	SELECT perfkit.create_rollup('m_catcher', 'm3_raw', 'ts', 'day', late_window => '100 years');
	CREATE FUNCTION m_catch() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		BEGIN PERFORM pg_sleep(20); EXCEPTION WHEN query_canceled THEN NULL; END;
		RETURN NULL;
	END $$;
	CREATE TRIGGER m_catch AFTER INSERT ON m_catcher_state FOR EACH STATEMENT EXECUTE FUNCTION m_catch();
	RESET ROLE;

	SET ROLE alice;
	CREATE TABLE a_raw (ts timestamptz NOT NULL, site text, v int);
	INSERT INTO a_raw SELECT timestamptz '2024-05-01' + i * interval '37 minutes', 's' || i % 3, i % 11
	FROM generate_series(0, 2000) i;
	SELECT perfkit.create_rollup('a_daily', 'a_raw', 'ts', 'day', ARRAY['site'],
		ARRAY['count(*)', 'sum(v)'], late_window => '100 years');
	RESET ROLE;
});

is($node->safe_psql('postgres', 'SELECT count(*) FROM a_daily'), '0',
	"alice's rollup starts empty");

# The job, as the rollups job runs it, with a 2 s budget per step.
my $start = time;
my ($rc, $out, $err) = $node->psql('postgres', q{
	SET perfkit.rollup_step_timeout = '2s';
	SET perfkit.rollup_max_batches = 20;
	CALL perfkit.refresh_rollups();
});
my $elapsed = time - $start;
is($rc, 0, 'the job run succeeded');
cmp_ok($elapsed, '<', 15, "the job run ended within 15 s (took ${elapsed}s; mallory's trigger sleeps 20 s)");
like($err, qr/rollup_step_timeout/, 'the step over budget was reported');
like($err, qr/20 batches this run/, "mallory's endless rollup was stopped after 20 batches");

my $exact = q{
	SELECT count(*) FROM (
		(SELECT bucket, site, count, sum_v FROM a_daily
		 EXCEPT ALL SELECT date_trunc('day', ts, 'UTC'), site, count(*), sum(v) FROM a_raw GROUP BY 1, 2)
		UNION ALL
		(SELECT date_trunc('day', ts, 'UTC'), site, count(*), sum(v) FROM a_raw GROUP BY 1, 2
		 EXCEPT ALL SELECT bucket, site, count, sum_v FROM a_daily)) d};
is($node->safe_psql('postgres', "SELECT watermark IS NOT NULL FROM perfkit.rollups WHERE name = 'a_daily'"),
	't', "alice's rollup was refreshed");
is($node->safe_psql('postgres', $exact), '0', "alice's rollup equals GROUP BY over her rows");
is($node->safe_psql('postgres', "SELECT last_error IS NULL FROM perfkit.rollups WHERE name = 'a_daily'"),
	't', "no error recorded for alice's rollup");
like($node->safe_psql('postgres', "SELECT last_error FROM perfkit.rollups WHERE name = 'm_sleepy'"),
	qr/exceeded perfkit\.rollup_step_timeout/, "mallory's sleeping rollup is recorded as failed");
is($node->safe_psql('postgres', "SELECT watermark IS NULL FROM perfkit.rollups WHERE name = 'm_sleepy'"),
	't', "the step over budget was rolled back");
like($node->safe_psql('postgres', "SELECT last_error FROM perfkit.rollups WHERE name = 'm_catcher'"),
	qr/exceeded perfkit\.rollup_step_timeout/,
	"mallory's rollup that catches the cancel is recorded as failed");
is($node->safe_psql('postgres', "SELECT watermark IS NULL FROM perfkit.rollups WHERE name = 'm_catcher'"),
	't', "the step that caught the cancel was rolled back");

# A late row of alice's is folded in by the next run, mallory's rollups
# still there and still bounded.
$node->safe_psql('postgres', q{
	SET ROLE alice;
	INSERT INTO a_raw VALUES ('2024-05-02 12:00', 's1', 1000);
});
$start = time;
($rc, $out, $err) = $node->psql('postgres', q{
	SET perfkit.rollup_step_timeout = '2s';
	SET perfkit.rollup_max_batches = 20;
	CALL perfkit.refresh_rollups();
});
$elapsed = time - $start;
is($rc, 0, 'the second run succeeded');
cmp_ok($elapsed, '<', 15, "the second run ended within 15 s (took ${elapsed}s)");
is($node->safe_psql('postgres', $exact), '0', "alice's late row was folded in");

# mallory gained nothing.
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"),
	'f', 'mallory is no superuser');

$node->stop;
done_testing();
