# The partitions job run by a superuser (as pg_cron runs it, CALL
# perfkit.run_job('partitions')) over a plain role's tables whose trigger,
# CHECK constraint and generated column try ALTER ROLE mallory SUPERUSER:
# she stays a plain role, her table and alice's are maintained (default
# drained, retention applied) and every call of her code ran as her.
# Then the conversion workers: at most perfkit.max_conversion_workers
# conversions at once (the next is refused at once with 53400), and a
# conversion's lock wait is bounded (55P03, its work kept, resumable).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('security_partitions_job');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,perfkit'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_cron;
	CREATE EXTENSION perfkit;
	CREATE ROLE mallory LOGIN;
	CREATE ROLE alice LOGIN;
	CREATE SCHEMA m AUTHORIZATION mallory;
	CREATE SCHEMA a AUTHORIZATION alice;
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

# Conversion workers.  Alice's three tables; a session holds two of them
# locked, so their conversions wait in their workers.
$node->safe_psql('postgres', q{
	SET ROLE alice;
	CREATE TABLE a.c1 (at timestamptz NOT NULL, v int);
	CREATE TABLE a.c2 (at timestamptz NOT NULL, v int);
	CREATE TABLE a.c3 (at timestamptz NOT NULL, v int);
	INSERT INTO a.c1 SELECT now() - i * interval '1 hour', i FROM generate_series(1, 100) i;
	INSERT INTO a.c2 SELECT * FROM a.c1;
	INSERT INTO a.c3 SELECT * FROM a.c1;
});
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE a.c1, a.c2 IN ACCESS EXCLUSIVE MODE;');
my @waiters;
for my $t ('c1', 'c2')
{
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/started/, qq{
		SET perfkit.conversion_lock_timeout = '5min';
		\\echo started
		SELECT perfkit.convert_to_partitioned('a.$t', 'at', '1 day');
	});
	push @waiters, $bg;
}
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM pg_stat_activity
	WHERE backend_type = 'perfkit conversion' AND wait_event_type = 'Lock'}),
	'two conversions wait for their lock in their workers');

my $start = time();
$rc = $node->psql('postgres',
	"SET ROLE alice; SELECT perfkit.convert_to_partitioned('a.c3', 'at', '1 day')",
	stdout => \$stdout, stderr => \$stderr, on_error_stop => 1,
	extra_params => ['-v', 'VERBOSITY=verbose']);
my $elapsed = time() - $start;
isnt($rc, 0, 'a third conversion fails');
like($stderr, qr/53400/, 'with SQLSTATE 53400');
like($stderr, qr/2 conversions are running already/, 'saying how many run');
like($stderr, qr/HINT:.*Wait for one of them to finish/, 'with a hint');
cmp_ok($elapsed, '<', 10, 'at once, without waiting for the lock');
is($node->safe_psql('postgres', "SELECT relkind FROM pg_class WHERE oid = 'a.c3'::regclass"),
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
	SET ROLE alice;
	SET perfkit.conversion_lock_timeout = '300ms';
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
