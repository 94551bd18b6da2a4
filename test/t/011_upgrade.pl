# Upgrades leave perfkit exactly as a fresh install does.
#
# The schema (test/upgrade/schema_dump.sql: every routine's whole
# definition, privileges and comment; every relation's columns,
# constraints, indexes, view query, policies and privileges; the sequence;
# the tables pg_dump keeps; the registered jobs) of a fresh
# CREATE EXTENSION perfkit is compared with:
#
#  - the rooms' SQL sources (src/**/*.sql, in the Makefile's order) loaded
#    directly with psql, outside CREATE EXTENSION: the install script the
#    Makefile builds holds the rooms and nothing else;
#  - for every update script src/updates/perfkit--A--B.sql, release A
#    installed from its own install script (test/upgrade/previous.sh builds
#    it from the tag vA) and updated with ALTER EXTENSION perfkit UPDATE: an
#    update script that forgets a changed function, a column or a grant
#    fails here.
#
# run.sh copies the sources to $PERFKIT_ROOMS (NN-<file>.sql, in order;
# updates/ the update scripts).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use File::Basename qw(dirname);
use Test::More;

my $rooms = $ENV{PERFKIT_ROOMS}
  or BAIL_OUT('PERFKIT_ROOMS is not set: run this test through make test');
my $dump_sql = dirname(__FILE__) . '/../upgrade/schema_dump.sql';
my @sources = sort glob("$rooms/[0-9][0-9]-*.sql");
ok(@sources >= 8, 'the rooms\' sources are there (' . scalar(@sources) . ' files)');

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'perfkit'\n");
$node->start;

# dump(DB): the schema of perfkit in DB, one fact a line.
sub dump_schema
{
	my ($db) = @_;
	my ($out, $err);
	$node->psql($db, '', extra_params => [ '-f', $dump_sql ],
		stdout => \$out, stderr => \$err, on_error_die => 1);
	return $out;
}

# same(A, B, NAME): the dumps are equal; if not, show the facts that differ.
sub same
{
	my ($want, $got, $name) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	PostgreSQL::Test::Utils::append_to_file("$dir/want", $want);
	PostgreSQL::Test::Utils::append_to_file("$dir/got", $got);
	my $diff = `diff -u "$dir/want" "$dir/got"`;
	ok($diff eq '', $name) or diag(substr($diff, 0, 20000));
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh; CREATE DATABASE sources;');
$node->safe_psql('fresh', 'CREATE EXTENSION perfkit;');
is($node->safe_psql('fresh',
		"SELECT e.extversion = a.default_version FROM pg_extension e "
		  . "JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'perfkit'"),
	't', 'CREATE EXTENSION installs the default version');
my $fresh = dump_schema('fresh');
my $routines = () = $fresh =~ /^routine \S+ acl /mg;
ok($routines > 50, "the dump describes every routine ($routines)");

# The rooms' sources as psql would run them: MODULE_PATHNAME is what
# CREATE EXTENSION substitutes, and pg_extension_config_dump(), which only
# an extension script may call, records its arguments in a table instead.
$node->safe_psql('sources', q{
	CREATE SCHEMA perfkit_shim;
	CREATE TABLE perfkit_shim.config_dump (rel regclass, cond text);
	CREATE FUNCTION perfkit_shim.pg_extension_config_dump(regclass, text) RETURNS void
	LANGUAGE sql AS 'INSERT INTO perfkit_shim.config_dump VALUES ($1, $2)';
});
foreach my $f (@sources)
{
	my $sql = PostgreSQL::Test::Utils::slurp_file($f);
	ok($sql !~ /^\\/m, "$f has no psql meta-commands");
	$sql =~ s/MODULE_PATHNAME/\$libdir\/perfkit/g;
	$sql =~ s/pg_catalog\.pg_extension_config_dump/perfkit_shim.pg_extension_config_dump/g;
	my ($rc, $out, $err) = $node->psql('sources', $sql, on_error_stop => 1);
	is($rc, 0, "$f loads directly") or diag($err);
}
same($fresh, dump_schema('sources'),
	'a fresh install equals the rooms\' sources loaded directly');

# Every release an update script starts from, installed and updated.
my @updates = sort glob("$rooms/updates/perfkit--*--*.sql");
foreach my $u (@updates)
{
	my ($from) = $u =~ m{perfkit--([^-]+)--[^/]+\.sql$};
	my $db = "from_$from";
	$db =~ s/\W/_/g;
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM pg_available_extension_versions "
			  . "WHERE name = 'perfkit' AND version = '$from'"),
		'1', "release $from can be installed (see test/upgrade/previous.sh)");
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION perfkit VERSION '$from'; ALTER EXTENSION perfkit UPDATE;");
	is($node->safe_psql($db,
			"SELECT extversion FROM pg_extension WHERE extname = 'perfkit'"),
		$node->safe_psql('fresh',
			"SELECT extversion FROM pg_extension WHERE extname = 'perfkit'"),
		"release $from updates to the default version");
	same($fresh, dump_schema($db), "release $from updated equals a fresh install");
}
note(@updates ? scalar(@updates) . ' update scripts' : 'no update script yet (1.0)');

# DROP EXTENSION leaves nothing behind, the schema included.
$node->safe_psql('fresh', 'DROP EXTENSION perfkit;');
is($node->safe_psql('fresh',
		"SELECT count(*) FROM pg_namespace WHERE nspname = 'perfkit'"),
	'0', 'DROP EXTENSION removes the schema and everything in it');

$node->stop;
done_testing();
