# perfkit's shared memory across restarts and crashes: it is attached anew
# after a clean restart and after a crash (the postmaster rebuilds shared
# memory and perfkit's startup hook runs again), counters start from zero,
# and a job whose backend dies mid-run neither stays "running" nor blocks
# the next run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('restart');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'perfkit'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION perfkit;');

sub since
{
	return $node->safe_psql('postgres',
		"SELECT value FROM perfkit.status() WHERE name = 'shared_memory_since'");
}

sub runs
{
	return $node->safe_psql('postgres',
		"SELECT runs_since_start FROM perfkit.jobs WHERE job = 'history'");
}

my $t1 = since();
$node->safe_psql('postgres', "CALL perfkit.run_job('history');");
is(runs(), '1', 'a run is counted');

# Clean restart.
$node->restart;
my $t2 = since();
ok($node->safe_psql('postgres', "SELECT '$t2'::timestamptz > '$t1'::timestamptz"),
	'shared memory is initialised anew after a restart');
is(runs(), '0', 'counters start from zero after a restart');
$node->safe_psql('postgres', "CALL perfkit.run_job('history');");
is(runs(), '1', 'jobs run after a restart');

# A backend dies (FATAL) while running a job: the job is not left
# "running", and its lock is gone so the next run is not skipped.
$node->safe_psql('postgres', q{
	INSERT INTO perfkit.job_registry VALUES
		('sleeper', 'SELECT pg_sleep(300)', '0 0 1 1 *', 'test: sleeps');
});
my $bg = $node->background_psql('postgres');
$bg->query_until(qr/started/, q{
	\echo started
	CALL perfkit.run_job('sleeper');
});
$node->poll_query_until('postgres', q{
	SELECT running FROM perfkit.jobs WHERE job = 'sleeper'
}) or die 'sleeper never started';
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL perfkit.run_job(''sleeper'')%'");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$node->poll_query_until('postgres', q{
	SELECT NOT running FROM perfkit.jobs WHERE job = 'sleeper'
}) or die 'sleeper still shown running';
pass('a job whose backend was terminated is not shown running');
eval { $bg->quit };	# its backend is gone: the pipe may be closed
is($node->safe_psql('postgres', q{
	SELECT last_status || ',' || failures_since_start || ',' || last_error
	FROM perfkit.jobs WHERE job = 'sleeper'}),
	'failed,1,the backend running the job exited',
	'and the run is recorded as failed');
$node->safe_psql('postgres',
	"UPDATE perfkit.job_registry SET command = 'SELECT 1' WHERE job = 'sleeper'");
my ($stdout, $stderr);
$node->psql('postgres', "CALL perfkit.run_job('sleeper');",
	stdout => \$stdout, stderr => \$stderr);
unlike($stderr, qr/already running/, 'the terminated run does not block the next one');

# Crash: kill -9 a backend; the postmaster restarts every process and
# rebuilds shared memory.
$bg = $node->background_psql('postgres');
my $victim = $bg->query_safe('SELECT pg_backend_pid()');
chomp $victim;
kill 'KILL', $victim;
eval { $bg->quit };
$node->poll_query_until('postgres', 'SELECT 1', '1')
	or die 'server did not come back after the crash';
my $t3 = since();
ok($node->safe_psql('postgres', "SELECT '$t3'::timestamptz > '$t2'::timestamptz"),
	'shared memory is initialised anew after a crash');
is(runs(), '0', 'counters start from zero after a crash');
$node->safe_psql('postgres', "CALL perfkit.run_job('history');");
is(runs(), '1', 'jobs run after a crash');
like($node->safe_psql('postgres',
		"SELECT value FROM perfkit.status() WHERE name = 'shared_memory'"),
	qr/^attached$/, 'shared memory is attached after a crash');

$node->stop;
done_testing();
