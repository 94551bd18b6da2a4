# The result cache across restarts and crashes, and with backends that die
# while using it: a clean restart and a crash restart (kill -9 of a
# backend in the middle of cache writes) both leave an empty, working
# cache; a backend terminated in the middle of a walk over a full cache
# leaves no partition lock behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cache');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'perfkit'
perfkit.cache_size = '8MB'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION perfkit;
	CREATE TABLE t (id int);
	INSERT INTO t SELECT generate_series(1, 100);
});

sub entries
{
	return $node->safe_psql('postgres', 'SELECT entries FROM perfkit.cache_stats()');
}

sub works
{
	my ($what) = @_;
	$node->safe_psql('postgres', q{SELECT perfkit.cache_set('probe', '"ok"')});
	is($node->safe_psql('postgres', q{SELECT perfkit.cache_get('probe') #>> '{}'}),
		'ok', "key/value works $what");
	is($node->safe_psql('postgres',
			q{SELECT perfkit.cached('SELECT count(*) AS n FROM t') -> 0 ->> 'n'}),
		'100', "cached() works $what");
}

# A background session looping over body (PL/pgSQL statements using i)
# until it is stopped from outside; returns the session and its pid.
sub background_loop
{
	my ($body) = @_;
	my $bg = $node->background_psql('postgres');
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	chomp $pid;
	$bg->query_until(qr/looping/, qq{
	\\echo looping
	DO \$\$
	BEGIN
		FOR i IN 1 .. 100000000 LOOP
			$body
		END LOOP;
	END \$\$;
});
	return ($bg, $pid);
}

$node->safe_psql('postgres',
	q{SELECT count(perfkit.cache_set('k' || i, to_jsonb(i))) FROM generate_series(1, 1000) i});
is(entries(), '1000', 'entries are stored');

$node->restart;
is(entries(), '0', 'a restart leaves an empty cache');
works('after a restart');

# kill -9 a backend in the middle of cache writes: a crash restart.
my ($bg, $victim) = background_loop(q{
			PERFORM perfkit.cache_set('loop:' || (i % 5000), to_jsonb(repeat('x', i % 3000)));
			IF i % 100 = 0 THEN
				PERFORM perfkit.cache_invalidate('loop:1%');
			END IF;});
$node->poll_query_until('postgres',
	'SELECT entries > 1000 FROM perfkit.cache_stats()')
	or die 'the loop did not fill the cache';
kill 'KILL', $victim;
eval { $bg->quit };
$node->poll_query_until('postgres', 'SELECT 1', '1')
	or die 'server did not come back after the crash';
is(entries(), '0', 'a crash restart leaves an empty cache');
my ($used, $total) = split /\|/,
  $node->safe_psql('postgres', 'SELECT bytes_used, bytes_total FROM perfkit.cache_stats()');
is($used, '0', 'no memory is in use after the crash');
cmp_ok($total, '>', 7_000_000, 'the whole cache is available after the crash');
works('after a crash');

# Terminate a backend in the middle of a walk over a full cache: its
# partition lock goes with it, and others are not blocked.
$node->safe_psql('postgres',
	q{SELECT count(perfkit.cache_set('walk:' || i, to_jsonb(repeat('w', 300)))) FROM generate_series(1, 20000) i});
($bg, my $walker) = background_loop(q{
			PERFORM perfkit.cache_invalidate('no match %');});
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $walker AND state = 'active'")
	or die 'walker did not start';
$node->safe_psql('postgres', "SELECT pg_terminate_backend($walker)");
eval { $bg->quit };
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $walker")
	or die 'walker did not exit';
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET statement_timeout = '10s'; SELECT perfkit.cache_invalidate('walk:%')});
is($ret, 0, 'a walk after the terminated one completes');
like($out, qr/^\d+$/m, 'and invalidates entries');
works('after a backend died mid-walk');

$node->stop;
done_testing();
