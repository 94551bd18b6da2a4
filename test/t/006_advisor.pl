# The advisor's workload store in shared memory: bounded by
# perfkit.advisor_max_queries (the least-used entry is evicted), example
# texts cut at perfkit.advisor_max_query_length on a character boundary
# and then not re-planned, sampling at a fractional rate, nothing kept
# across a restart, and sampling that keeps working when many backends
# record at once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('advisor');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'perfkit'
perfkit.advisor_max_queries = 20
perfkit.advisor_max_query_length = 256
perfkit.advisor_sample_rate = 1
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION perfkit;
	CREATE TABLE t (a int, b int, c int, d int);
	INSERT INTO t SELECT g, g, g, g FROM generate_series(1, 100) g;
	SELECT perfkit.workload_reset();
});

# A frequent statement, then 40 distinct ones run once: the store never
# holds more than 20, and the frequent one survives eviction.
$node->safe_psql('postgres',
	join('', map { "SELECT count(*) FROM t WHERE a = $_;" } 1 .. 10));
# (IN lists of different lengths have different query ids)
my $many = '';
for my $i (1 .. 40)
{
	$many .= 'SELECT count(*) FROM t WHERE b IN (' . join(', ', 1 .. $i) . ');';
}
$node->safe_psql('postgres', $many);
my ($entries, $max, $evictions) = split /\|/,
	$node->safe_psql('postgres',
	'SELECT entries, max_entries, evictions FROM perfkit.workload_info()');
ok($entries <= 20, "the store stays within advisor_max_queries ($entries entries)");
is($max, '20', 'max_entries reports the setting');
ok($evictions > 0, "new statements evict old ones ($evictions evictions)");
is( $node->safe_psql('postgres',
		"SELECT calls FROM perfkit.workload WHERE example LIKE 'SELECT count(*) FROM t WHERE a = %'"),
	'10',
	'the most used statement is not the one evicted');

# A long statement with multibyte characters: cut at the limit on a
# character boundary, counted, and not re-plannable.
my $long = 'SELECT count(*) FROM t WHERE a < 5 AND '
  . join(' AND ', map { "b <> length('éééé$_')" } 1 .. 40);
$node->safe_psql('postgres', "SELECT perfkit.workload_reset(); $long;");
my ($len, $replannable, $valid) = split /\|/,
	$node->safe_psql('postgres', q{
	SELECT octet_length(example), replannable,
		   convert_to(example, 'UTF8') IS NOT NULL
	FROM perfkit.workload WHERE example LIKE 'SELECT count(*) FROM t WHERE a < 5%'});
ok($len <= 256 && $len > 240, "the example is cut at the limit ($len bytes)");
is($replannable, 'f', 'a cut example is not re-plannable');
is($valid, 't', 'the cut example is valid text');

# A fractional rate samples about that share.
$node->safe_psql('postgres', 'SELECT perfkit.workload_reset()');
$node->safe_psql('postgres',
	"SET perfkit.advisor_sample_rate = 0.2;"
	  . join('', map { "SELECT b FROM t WHERE a = $_;" } 1 .. 1000));
my $calls = $node->safe_psql('postgres',
	"SELECT calls FROM perfkit.workload WHERE example LIKE 'SELECT b FROM t WHERE a = %'");
ok($calls > 120 && $calls < 280, "rate 0.2 samples about a fifth ($calls of 1000)");

# Many backends record at once: counts add up exactly at rate 1.
$node->safe_psql('postgres', 'SELECT perfkit.workload_reset()');
my $script = $node->basedir . '/w.sql';
open(my $fh, '>', $script) or die;
print $fh "SELECT d FROM t WHERE c = 7;\n";
close $fh;
$node->command_ok(
	[ 'pgbench', '-n', '-c', '8', '-j', '2', '-t', '200', '-M', 'simple', '-f', $script,
	  '-h', $node->host, '-p', $node->port, 'postgres' ],
	'8 clients record concurrently');
is( $node->safe_psql('postgres',
		"SELECT calls FROM perfkit.workload WHERE example LIKE 'SELECT d FROM t WHERE c = 7%'"),
	'1600',
	'no sample is lost under concurrency');

# Nothing survives a restart.
$node->restart;
is($node->safe_psql('postgres', 'SELECT entries FROM perfkit.workload_info()'),
	'0', 'the workload store is empty after a restart');

$node->stop;
done_testing();
