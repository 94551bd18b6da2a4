# perfkit refuses to work without shared_preload_libraries: CREATE
# EXTENSION and every function that needs shared memory fail with SQLSTATE
# 55000 and a hint naming the setting; status() still reports.  Putting
# perfkit back in shared_preload_libraries makes everything work again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->start;

sub psql_verbose
{
	my ($sql) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$stdout, stderr => \$stderr);
	return ($rc, $stdout, $stderr);
}

my ($rc, $out, $err) = psql_verbose('CREATE EXTENSION perfkit;');
isnt($rc, 0, 'CREATE EXTENSION fails when perfkit is not preloaded');
like($err, qr/ERROR:  55000: perfkit must be loaded via "shared_preload_libraries"/,
	'with SQLSTATE 55000 and a clear message');
like($err, qr/HINT:  Add perfkit to "shared_preload_libraries"/,
	'and a hint naming the setting');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_namespace WHERE nspname = 'perfkit'"),
	'0', 'the failed CREATE EXTENSION left nothing behind');

# Install with perfkit preloaded, then restart without it.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'perfkit'\n");
$node->restart;
$node->safe_psql('postgres', 'CREATE EXTENSION perfkit;');
$node->safe_psql('postgres', "CALL perfkit.run_job('history');");
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;

is($node->safe_psql('postgres',
		"SELECT string_agg(name || '=' || coalesce(value, ''), ',' ORDER BY name) FROM perfkit.status() "
		  . "WHERE name IN ('preloaded', 'shared_memory')"),
	'preloaded=no,shared_memory=not attached',
	'status() reports that perfkit is not preloaded');

foreach my $sql ("CALL perfkit.run_job('history');",
	'SELECT * FROM perfkit.jobs;')
{
	($rc, $out, $err) = psql_verbose($sql);
	isnt($rc, 0, "\"$sql\" fails without preloading");
	like($err, qr/ERROR:  55000: perfkit must be loaded via "shared_preload_libraries"/,
		"\"$sql\" fails with SQLSTATE 55000");
}

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'perfkit'\n");
$node->restart;
$node->safe_psql('postgres', "CALL perfkit.run_job('history');");
is($node->safe_psql('postgres',
		"SELECT runs_since_start FROM perfkit.jobs WHERE job = 'history'"),
	'1', 'preloaded again, jobs run and are counted');

$node->stop;
done_testing();
