# PerfkitTest: what the TAP tests of perfkit share.
#
# cron_node(NAME, conf => TEXT, init => [ARGS]) gives a started node with
# pg_cron and perfkit preloaded, pg_cron running its jobs in background
# workers of database postgres, and both extensions created there: the
# cluster a pg_cron job of perfkit runs in.  conf is appended to
# postgresql.conf after perfkit's lines; init is passed to initdb.
package PerfkitTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(cron_node);

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

1;
