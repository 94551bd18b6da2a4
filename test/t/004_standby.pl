# The result cache on a hot standby.  Writes replayed from WAL run no
# hooks, so a standby cannot know when a cached() result goes stale:
# cached() runs its query every time there and stores nothing, and its
# results follow replay.  Key/value entries work as on a primary.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'perfkit'\n");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION perfkit;
	CREATE TABLE t (id int);
	INSERT INTO t SELECT generate_series(1, 10);
});
$primary->backup('backup');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $q = q{SELECT perfkit.cached('SELECT count(*) AS n FROM t') -> 0 ->> 'n'};
is($standby->safe_psql('postgres', $q), '10', 'cached() answers on the standby');
is($standby->safe_psql('postgres', $q), '10', 'twice');
is($standby->safe_psql('postgres',
		q{SELECT count(*) FROM perfkit.cache_entries WHERE kind = 'query'}),
	'0', 'but stores nothing there');

$primary->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(11, 15)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $q), '15', 'and follows replay: no stale result');

$standby->safe_psql('postgres', q{SELECT perfkit.cache_set('standby:k', '"v"')});
is($standby->safe_psql('postgres', q{SELECT perfkit.cache_get('standby:k') #>> '{}'}),
	'v', 'key/value entries work on the standby');

# After promotion the hooks see writes again, and cached() caches.
$standby->promote;
$standby->safe_psql('postgres', $q);
is($standby->safe_psql('postgres',
		q{SELECT count(*) FROM perfkit.cache_entries WHERE kind = 'query'}),
	'1', 'after promotion cached() stores results');
$standby->safe_psql('postgres', 'INSERT INTO t VALUES (16)');
is($standby->safe_psql('postgres', $q), '16', 'and writes there invalidate them');

$standby->stop;
$primary->stop;
done_testing();
