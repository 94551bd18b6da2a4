# PerfkitTest: what the TAP tests of perfkit share.
#
# cron_node(NAME, conf => TEXT, init => [ARGS]) gives a started node with
# pg_cron and perfkit preloaded, pg_cron running its jobs in background
# workers of database postgres, and both extensions created there: the
# cluster a pg_cron job of perfkit runs in.  conf is appended to
# postgresql.conf after perfkit's lines; init is passed to initdb.
#
# citus_installed() tells whether the server has Citus (its control file
# and library); citus_cluster(workers => N, conf => TEXT) starts a
# coordinator and N workers (default 2) listening on 127.0.0.1, each with
# 'citus,pg_cron,perfkit' preloaded, joined into one cluster with citus
# and perfkit created on the coordinator (Citus creates them on the
# workers), and returns the coordinator followed by the workers.
package PerfkitTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(cron_node citus_installed citus_cluster);

sub cron_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init($opt{init} ? (extra => $opt{init}) : ());
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,perfkit'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
} . ($opt{conf} // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron; CREATE EXTENSION perfkit;');
	return $node;
}

sub citus_installed
{
	my $share = `pg_config --sharedir`;
	my $lib = `pg_config --pkglibdir`;
	chomp($share, $lib);
	return -f "$share/extension/citus.control" && -f "$lib/citus.so";
}

sub citus_cluster
{
	my (%opt) = @_;
	my $workers = $opt{workers} // 2;
	my @nodes;
	for my $i (0 .. $workers)
	{
		my $node = PostgreSQL::Test::Cluster->new($i == 0 ? 'coordinator' : "worker$i");
		$node->init;
		$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'citus,pg_cron,perfkit'
listen_addresses = '127.0.0.1'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 32
max_connections = 100
citus.shard_count = 4
} . ($opt{conf} // ''));
		$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\n");
		$node->start;
		$node->safe_psql('postgres', 'CREATE EXTENSION citus;');
		push @nodes, $node;
	}
	my $coord = $nodes[0];
	$coord->safe_psql('postgres',
		"SELECT citus_set_coordinator_host('127.0.0.1', " . $coord->port . ");");
	$coord->safe_psql('postgres',
		"SELECT citus_add_node('127.0.0.1', " . $_->port . ");")
	  for @nodes[1 .. $#nodes];
	$coord->safe_psql('postgres', 'CREATE EXTENSION pg_cron; CREATE EXTENSION perfkit;');
	return @nodes;
}

1;
