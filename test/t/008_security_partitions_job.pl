# The partitions job run by a superuser (as pg_cron runs it, CALL
# perfkit.run_job('partitions')) over a plain role's tables whose trigger,
# CHECK constraint and generated column try ALTER ROLE mallory SUPERUSER:
# she stays a plain role, her table and alice's are maintained (default
# drained, retention applied) and every call of her code ran as her.
# An operator mallory put in public (=(oid, regclass)) never runs in the
# job, and her row of perfkit.partition_config locked in an open
# transaction does not hold the job up.
# Then the conversion workers: at most perfkit.max_conversion_workers
# conversions at once (the next is refused at once with 53400), at most
# all but one per role, one call per table at a time (55P03 at once), and
# a conversion's lock wait is bounded (55P03, its work kept, resumable).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PerfkitTest;
use Time::HiRes qw(time);

my $node = cron_node('security_partitions_job');
$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE SCHEMA m AUTHORIZATION mallory;
	CREATE SCHEMA a AUTHORIZATION alice;
	CREATE SCHEMA b AUTHORIZATION bob;
	SELECT perfkit.schedule('partitions');
});

$node->safe_psql('postgres', q{
	SET ROLE mallory;
	CREATE TABLE m.who (who name, what text);
	CREATE FUNCTION m.escalate(what text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO m.who VALUES (current_user, what);
		BEGIN
			ALTER ROLE mallory SUPERUSER;
		EXCEPTION WHEN insufficient_privilege THEN
			NULL;
		END;
		RETURN true;
	END $$;
	CREATE FUNCTION m.ok(v int) RETURNS boolean LANGUAGE sql IMMUTABLE AS
		$$ SELECT m.escalate('check') $$;
	CREATE FUNCTION m.gen(v int) RETURNS int LANGUAGE sql IMMUTABLE AS
		$$ SELECT CASE WHEN m.escalate('generated') THEN v END $$;
	CREATE FUNCTION m.trg() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM m.escalate('trigger');
		RETURN OLD;
	END $$;
	CREATE TABLE m.ev (at timestamptz NOT NULL, v int CHECK (m.ok(v)),
		g int GENERATED ALWAYS AS (m.gen(v)) STORED) PARTITION BY RANGE (at);
	CREATE TRIGGER ev_del BEFORE DELETE ON m.ev FOR EACH ROW EXECUTE FUNCTION m.trg();
	SELECT perfkit.partition_table('m.ev', 'at', '1 day', premake => 2);
	INSERT INTO m.ev (at, v) VALUES (now() + interval '10 days', 1);
	DO $$ BEGIN
		EXECUTE format('CREATE TABLE m.ev_old PARTITION OF m.ev FOR VALUES FROM (%L) TO (%L)',
			date_trunc('day', now()) - interval '20 days', date_trunc('day', now()) - interval '19 days');
	END $$;
	SELECT perfkit.set_retention('m.ev', '10 days', 'drop', require_rollups => false);
	TRUNCATE m.who;
	RESET ROLE;
	SET ROLE alice;
	CREATE TABLE a.ev (at timestamptz NOT NULL, v int) PARTITION BY RANGE (at);
	SELECT perfkit.partition_table('a.ev', 'at', '1 day', premake => 2);
	INSERT INTO a.ev VALUES (now() + interval '10 days', 1);
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM m.ev_default'), '1',
	"a row waits in mallory's default partition");

# What pg_cron runs, as the superuser who scheduled it.
my ($stdout, $stderr);
my $rc = $node->psql('postgres', "CALL perfkit.run_job('partitions')",
	stdout => \$stdout, stderr => \$stderr);
is($rc, 0, 'the partitions job succeeded') or diag $stderr;
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"),
	'f', 'mallory is not a superuser');
is($node->safe_psql('postgres', 'SELECT string_agg(DISTINCT who, \',\') FROM m.who'),
	'mallory', "her trigger, CHECK and generated column ran as her only");
is($node->safe_psql('postgres', 'SELECT count(*) FROM m.ev_default'), '0',
	"her default partition was drained");
is($node->safe_psql('postgres', "SELECT to_regclass('m.ev_old') IS NULL"), 't',
	'her partition past retention was dropped');
is($node->safe_psql('postgres', 'SELECT count(*) FROM a.ev_default'), '0',
	"alice's default partition was drained");
is($node->safe_psql('postgres', q{
	SELECT string_agg("table" || '=' || last_status, ',' ORDER BY "table"::text)
	FROM perfkit.partition_sets}),
	'a.ev=ok,m.ev=ok', 'both tables recorded as maintained');
is($node->safe_psql('postgres', q{
	SELECT last_status FROM perfkit.jobs WHERE job = 'partitions'}),
	'succeeded', 'the job is recorded as succeeded');

# An operator hijack: public is writable by everyone (as before
# PostgreSQL 15) and in the superuser's search_path; =(oid, regclass)
# has no exact match in pg_catalog, so a statement of the job comparing
# an oid with a regclass would run mallory's function as the superuser.
$node->safe_psql('postgres', q{
	GRANT CREATE ON SCHEMA public TO PUBLIC;
	SET ROLE mallory;
	GRANT INSERT ON m.who TO PUBLIC;
	CREATE FUNCTION public.hijack(a oid, b regclass) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO m.who VALUES (current_user, 'operator');
		BEGIN
			ALTER ROLE mallory SUPERUSER;
		EXCEPTION WHEN insufficient_privilege THEN
			NULL;
		END;
		RETURN a OPERATOR(pg_catalog.=) b::oid;
	END $$;
	CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.hijack);
	INSERT INTO m.ev (at, v) VALUES (now() + interval '11 days', 2);
	TRUNCATE m.who;
});
$rc = $node->psql('postgres', "CALL perfkit.run_job('partitions')",
	stdout => \$stdout, stderr => \$stderr);
is($rc, 0, 'the partitions job succeeded with the operator in place') or diag $stderr;
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"),
	'f', 'mallory is not a superuser after the operator attack');
is($node->safe_psql('postgres', "SELECT count(*) FROM m.who WHERE what = 'operator'"),
	'0', 'her operator never ran');
is($node->safe_psql('postgres', 'SELECT count(*) FROM m.ev_default'), '0',
	"her new row was drained all the same");
$node->safe_psql('postgres', q{
	SET ROLE mallory;
	DROP OPERATOR public.= (oid, regclass);
	DROP FUNCTION public.hijack(oid, regclass);
	RESET ROLE;
	REVOKE CREATE ON SCHEMA public FROM PUBLIC;
});

# Mallory keeps her row of perfkit.partition_config locked (set_retention()
# in a transaction left open): the job records her table as skipped
# after perfkit.partition_lock_timeout and maintains alice's.
my $holder = $node->background_psql('postgres');
$holder->query_safe(q{SET ROLE mallory; SET client_min_messages = warning; BEGIN;
	SELECT perfkit.set_retention('m.ev', '10 days', 'drop', require_rollups => false);});
$node->safe_psql('postgres', q{INSERT INTO a.ev VALUES (now() + interval '12 days', 2)});
my $t0 = time();
$rc = $node->psql('postgres', "CALL perfkit.run_job('partitions')",
	stdout => \$stdout, stderr => \$stderr, timeout => 60);
my $took = time() - $t0;
is($rc, 0, 'the job ends although her row is locked') or diag $stderr;
cmp_ok($took, '<', 30, 'without waiting for her transaction');
like($stderr, qr/skipped 1 of 2 tables/, 'her table is counted as skipped');
is($node->safe_psql('postgres', 'SELECT count(*) FROM a.ev_default'), '0',
	"alice's table was maintained");
$holder->query_safe('COMMIT');
$holder->quit;

# Conversion workers.  Alice's three tables; a session holds two of them
# locked, so their conversions wait in their workers (one called by the
# superuser, one by alice: a role may hold at most all slots but one).
$node->safe_psql('postgres', q{
	SET ROLE alice;
	CREATE TABLE a.c1 (at timestamptz NOT NULL, v int);
	CREATE TABLE a.c2 (at timestamptz NOT NULL, v int);
	CREATE TABLE a.c3 (at timestamptz NOT NULL, v int);
	INSERT INTO a.c1 SELECT now() - i * interval '1 hour', i FROM generate_series(1, 100) i;
	INSERT INTO a.c2 SELECT * FROM a.c1;
	INSERT INTO a.c3 SELECT * FROM a.c1;
	SET ROLE bob;
	CREATE TABLE b.c4 (at timestamptz NOT NULL, v int);
	INSERT INTO b.c4 SELECT now() - i * interval '1 hour', i FROM generate_series(1, 100) i;
});
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE a.c1, a.c2 IN ACCESS EXCLUSIVE MODE;');
my @waiters;
for my $t ('c1', 'c2')
{
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	my $as = $t eq 'c2' ? 'SET ROLE alice;' : '';
	$bg->query_until(qr/started/, qq{
		SET perfkit.conversion_lock_timeout = '5min';
		$as
		\\echo started
		SELECT perfkit.convert_to_partitioned('a.$t', 'at', '1 day');
	});
	push @waiters, $bg;
}
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM pg_stat_activity
	WHERE backend_type = 'perfkit conversion' AND wait_event_type = 'Lock'}),
	'two conversions wait for their lock in their workers');

# A second call for a table being converted fails at once, and so does
# an abort: two runs of one conversion would corrupt its copy.
my $start = time();
$rc = $node->psql('postgres',
	"SELECT perfkit.convert_to_partitioned('a.c1', 'at', '1 day')",
	stdout => \$stdout, stderr => \$stderr,
	extra_params => ['-v', 'VERBOSITY=verbose']);
isnt($rc, 0, 'a second conversion of the same table fails');
like($stderr, qr/55P03.*is running in another session/s, 'with 55P03, saying it runs elsewhere');
$rc = $node->psql('postgres',
	"SELECT perfkit.convert_to_partitioned_abort('a.c1')",
	stdout => \$stdout, stderr => \$stderr,
	extra_params => ['-v', 'VERBOSITY=verbose']);
isnt($rc, 0, 'an abort while it runs fails');
like($stderr, qr/55P03/, 'with 55P03 too');
cmp_ok(time() - $start, '<', 10, 'both at once');

# Alice holds one of the two slots: her share is full.
$rc = $node->psql('postgres',
	"SET ROLE alice; SELECT perfkit.convert_to_partitioned('a.c3', 'at', '1 day')",
	stdout => \$stdout, stderr => \$stderr,
	extra_params => ['-v', 'VERBOSITY=verbose']);
isnt($rc, 0, "alice's second conversion fails");
like($stderr, qr/53400.*role "alice" runs 1 conversions already/s,
	'with 53400: a role gets at most all slots but one');

$start = time();
$rc = $node->psql('postgres',
	"SET ROLE bob; SELECT perfkit.convert_to_partitioned('b.c4', 'at', '1 day')",
	stdout => \$stdout, stderr => \$stderr, on_error_stop => 1,
	extra_params => ['-v', 'VERBOSITY=verbose']);
my $elapsed = time() - $start;
isnt($rc, 0, "a third conversion (bob's) fails");
like($stderr, qr/53400/, 'with SQLSTATE 53400');
like($stderr, qr/2 conversions are running already/, 'saying how many run');
like($stderr, qr/HINT:.*Wait for one of them to finish/, 'with a hint');
cmp_ok($elapsed, '<', 10, 'at once, without waiting for the lock');
is($node->safe_psql('postgres', "SELECT relkind FROM pg_class WHERE oid = 'b.c4'::regclass"),
	'r', 'and touched nothing');

# Release the lock: both conversions finish.
$locker->query_safe('COMMIT');
for my $bg (@waiters)
{
	my $out = $bg->query('SELECT 1');
	$bg->quit;
}
is($node->safe_psql('postgres', q{
	SELECT string_agg(relkind::text, ',' ORDER BY relname) FROM pg_class
	WHERE oid IN ('a.c1'::regclass, 'a.c2'::regclass)}),
	'p,p', 'the two waiting conversions finished once the lock was released');

# A bounded lock wait in the worker: 55P03, with a hint to resume.
$locker->query_safe('BEGIN; LOCK TABLE a.c3 IN ACCESS EXCLUSIVE MODE;');
$rc = $node->psql('postgres', q{
	SET perfkit.conversion_lock_timeout = '300ms';
	SET ROLE alice;
	SELECT perfkit.convert_to_partitioned('a.c3', 'at', '1 day')},
	stdout => \$stdout, stderr => \$stderr,
	extra_params => ['-v', 'VERBOSITY=verbose']);
isnt($rc, 0, 'a conversion whose lock is not granted in time fails');
like($stderr, qr/55P03/, 'with SQLSTATE 55P03');
like($stderr, qr/HINT:.*call perfkit\.convert_to_partitioned\(\) again to resume/,
	'with a hint to call it again');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'perfkit conversion'}),
	'0', 'its worker is gone');
$locker->query_safe('COMMIT');
$locker->quit;
is($node->safe_psql('postgres', q{
	SET ROLE alice;
	SELECT perfkit.convert_to_partitioned('a.c3', 'at', '1 day')}),
	'100', 'called again, the conversion completes');
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"),
	'f', 'mallory is still not a superuser');

$node->stop;
done_testing();
