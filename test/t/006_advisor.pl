# The advisor's workload store in shared memory: bounded by
# perfkit.advisor_max_queries (the least-used entry is evicted), example
# texts cut at perfkit.advisor_max_query_length on a character boundary
# and then not re-planned, sampling at a fractional rate, nothing kept
# across a restart, and sampling that keeps working when many backends
# record at once; an application binding parameters through psycopg 3.
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

# An application that only binds parameters, through the reference client
# (Debian's python3-psycopg: psycopg 3, extended protocol, its own
# prepared statements after five runs): its statements are captured with
# their parameter types, re-planned as generic plans, and the indexes
# planted missing are recommended, nothing else.  The same lookups typed
# with literals in psql count under the same entries.
$node->safe_psql('postgres', q{
	SET perfkit.advisor_sample_rate = 0;
	CREATE TABLE app_customers (id int PRIMARY KEY, email text NOT NULL, region text NOT NULL);
	INSERT INTO app_customers SELECT g, 'user' || g || '@example.com', 'r' || g % 7
	FROM generate_series(1, 50000) g;
	CREATE TABLE app_orders (id bigint PRIMARY KEY, customer_id int NOT NULL,
							 status text NOT NULL, total numeric NOT NULL);
	INSERT INTO app_orders SELECT g, g % 50000 + 1, 'paid', g % 500
	FROM generate_series(1, 200000) g;
	VACUUM ANALYZE app_customers, app_orders;
	SELECT perfkit.workload_reset();
});
my $py = $node->basedir . '/app.py';
open($fh, '>', $py) or die;
print $fh <<'PY';
import sys
import psycopg

calls = {"orders": 0, "email": 0, "pk": 0, "update": 0}
with psycopg.connect(host=sys.argv[1], port=sys.argv[2], dbname="postgres",
                     autocommit=True) as conn:
    for i in range(1, 61):
        conn.execute("SELECT id, total FROM app_orders WHERE customer_id = %s", (i * 37,))
        calls["orders"] += 1
        if i % 2 == 0:
            conn.execute("SELECT id FROM app_customers WHERE email = %s",
                         ("user%d@example.com" % i,))
            calls["email"] += 1
        conn.execute("SELECT * FROM app_orders WHERE id = %s", (i,))
        calls["pk"] += 1
        if i % 10 == 0:
            conn.execute("UPDATE app_orders SET status = %s WHERE id = %s", ("shipped", i))
            calls["update"] += 1
print(" ".join("%s=%d" % kv for kv in sorted(calls.items())))
PY
close $fh;
my $client = `/usr/bin/python3 $py '${\$node->host}' ${\$node->port} 2>&1`;
is($?, 0, 'the psycopg 3 application ran') or diag($client);
my %sent = $client =~ /(\w+)=(\d+)/g;
is($sent{orders}, 60, 'the client counted its calls');
is( $node->safe_psql('postgres', q{
	SELECT calls || ' ' || replannable || ' ' || example
	FROM perfkit.workload WHERE example ~* '^select id, total from app_orders where customer_id'}),
	"$sent{orders} true SELECT id, total FROM app_orders WHERE customer_id = \$1",
	'the bound statement is captured with its $1 text, re-plannable');
# the same lookup typed with literals, twice (one in lower case)
$node->safe_psql('postgres',
	'SELECT id, total FROM app_orders WHERE customer_id = 5;'
	  . 'select id, total from app_orders where customer_id = 6');
is( $node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || sum(calls) || ' ' || bool_and(replannable)
	FROM perfkit.workload WHERE example ~* '^select id, total from app_orders where customer_id'}),
	'1 ' . ($sent{orders} + 2) . ' true',
	'bound and literal runs count under one entry');
is( $node->safe_psql('postgres', q{
	SELECT string_agg(calls::text, ' ' ORDER BY example)
	FROM perfkit.workload WHERE example LIKE '%app_customers WHERE email%'
	   OR example LIKE 'UPDATE app_orders%'}),
	"$sent{email} $sent{update}",
	'the other bound statements are counted as the client sent them');
is( $node->safe_psql('postgres', q{
	SELECT string_agg(table_name || ' ' ||
					  substring(index_statement from 'USING btree \(([^)]*)\)'),
					  ', ' ORDER BY table_name::text)
	FROM perfkit.recommend_indexes()}),
	'app_customers email, app_orders customer_id',
	'the planted indexes, and only they, are recommended for the bound workload');
# ground truth: with them built, the generic plans use them
$node->safe_psql('postgres', q{
	SELECT perfkit.apply_index(index_statement) FROM perfkit.recommend_indexes()});
like( $node->safe_psql('postgres', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE o(int) AS SELECT id, total FROM app_orders WHERE customer_id = $1;
	EXPLAIN (COSTS OFF) EXECUTE o(5)}),
	qr/Index (Only )?Scan using app_orders_customer_id_\w*idx|Bitmap Index Scan on app_orders_customer_id_\w*idx/,
	'the generic plan uses the recommended index');

# Nothing survives a restart.
$node->restart;
is($node->safe_psql('postgres', 'SELECT entries FROM perfkit.workload_info()'),
	'0', 'the workload store is empty after a restart');

$node->stop;
done_testing();
