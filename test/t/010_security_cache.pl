# Issue 12, item 7: a hostile cache_invalidate() does not stall other
# roles' reads.  Mallory fills every partition with the longest keys she
# may store and loops over cache_invalidate() with the longest pattern she
# may pass, shaped for the worst case of the old backtracking matcher (a
# leading % and a literal run that almost matches at every offset:
# seconds per lock hold there).  Meanwhile alice reads her keys, spread
# over all partitions, and no read may take 200 ms or more.  Then mallory
# is cancelled, promptly, and alice's values are all there and unchanged.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PerfkitTest;
use Time::HiRes qw(time);

my $node = cron_node('security_cache', init => [ '--encoding=UTF8', '--locale=C' ],
	conf => "perfkit.cache_size = '128MB'\n");
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE mallory LOGIN;
	-- alice's probe: reads each of her keys in turn for the given time,
	-- returning how many reads were made and the slowest, in ms
	CREATE FUNCTION alice_probe(secs float8, OUT reads int, OUT slowest_ms float8)
	LANGUAGE plpgsql AS $$
	DECLARE
		stop timestamptz := clock_timestamp() + secs * interval '1 s';
		t0 timestamptz;
		v jsonb;
	BEGIN
		reads := 0;
		slowest_ms := 0;
		WHILE clock_timestamp() < stop LOOP
			t0 := clock_timestamp();
			v := perfkit.cache_get('alice:' || (reads % 200));
			slowest_ms := greatest(slowest_ms,
				extract(epoch FROM clock_timestamp() - t0) * 1000);
			IF v IS NULL OR (v #>> '{}')::int <> reads % 200 THEN
				RAISE EXCEPTION 'alice lost key %', reads % 200;
			END IF;
			reads := reads + 1;
		END LOOP;
	END $$;
});

$node->safe_psql('postgres', q{
	SET ROLE alice;
	SELECT count(perfkit.cache_set('alice:' || i, to_jsonb(i), '1 day')) FROM generate_series(0, 199) i;
});
# The longest key mallory may store (CACHE_MAX_KEY is 65536 bytes), in
# every partition: 640 of them, 40 per partition on average.
$node->safe_psql('postgres', q{
	SET ROLE mallory;
	SELECT count(perfkit.cache_set(repeat('a', 65530) || i, '1')) FROM generate_series(1, 640) i;
});
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM perfkit.cache_entries e JOIN pg_roles r ON r.oid = e.role
		  WHERE r.rolname = 'mallory'}),
	'640', 'mallory stored 640 keys of 64 kB');

# The longest pattern she may pass is 1024 bytes; one more is refused.
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET ROLE mallory; SELECT perfkit.cache_invalidate('%' || repeat('a', 1023) || 'b')});
like($err, qr/cache key pattern is too long/, 'a pattern of 1025 bytes is refused');
my $pattern = q{'%' || repeat('a', 1022) || 'b'};

# One hostile call, timed: it walks all her keys.
my $t0 = time;
is($node->safe_psql('postgres',
		"SET ROLE mallory; SELECT perfkit.cache_invalidate($pattern)"),
	'0', 'the hostile pattern matches none of her keys');
my $one_call = time - $t0;
note sprintf('one hostile cache_invalidate() over 640 keys of 64 kB: %.3f s', $one_call);

# Mallory loops over it in the background.
my $bg = $node->background_psql('postgres');
my $mallory = $bg->query_safe('SELECT pg_backend_pid()');
chomp $mallory;
$bg->query_until(qr/attacking/, qq{
SET ROLE mallory;
\\echo attacking
DO \$\$
BEGIN
	FOR i IN 1 .. 100000000 LOOP
		PERFORM perfkit.cache_invalidate($pattern);
	END LOOP;
END \$\$;
});
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $mallory AND state = 'active'")
	or die 'the attack did not start';

my ($reads, $slowest) = split /\|/,
  $node->safe_psql('postgres', 'SET ROLE alice; SELECT * FROM alice_probe(5)');
note "alice: $reads reads during the attack, the slowest $slowest ms";
cmp_ok($reads, '>', 100, 'alice kept reading during the attack');
cmp_ok($slowest, '<', 200, 'no read of alice waited 200 ms or more');
is($node->safe_psql('postgres',
		"SELECT state FROM pg_stat_activity WHERE pid = $mallory"),
	'active', 'the attack was still running at the end');

# Mallory's walk is cancellable, and quickly.
$t0 = time;
$node->safe_psql('postgres', "SELECT pg_cancel_backend($mallory)");
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $mallory AND state = 'active'")
	or die 'mallory was not cancelled';
my $cancel = time - $t0;
note sprintf('mallory cancelled in %.3f s', $cancel);
cmp_ok($cancel, '<', 2, 'a hostile walk stops soon after a cancel');
eval { $bg->quit };

# Alice's values are all there, unchanged; mallory gained nothing.
is($node->safe_psql('postgres', q{
	SET ROLE alice;
	SELECT count(*) || ' ' || sum((perfkit.cache_get('alice:' || i) #>> '{}')::int)
	FROM generate_series(0, 199) i}),
	'200 19900', 'alice has all her keys and values');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}),
	'f', 'mallory is no superuser');

$node->stop;
done_testing();
