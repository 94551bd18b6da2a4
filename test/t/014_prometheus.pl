# The Prometheus scrape path end to end, with Debian 12's packages:
# prometheus-postgres-exporter reads perfkit's row-shaped metric views
# through contrib/prometheus/queries.yaml, and Prometheus scrapes the
# exporter and loads contrib/prometheus/alerts.yml.
#
#  - A planted problem (an invalid index) shows as
#    perfkit_health_status{check="invalid_indexes"} 1 in the exporter's
#    output and in a Prometheus query over its HTTP API.
#  - The exporter exposes every family perfkit.metrics() has, with the
#    same name and type, and the same samples where both have a value.
#  - The alert rules load, and pass their unit tests (promtool).
#
# The services never run as installed (run.sh installs the packages with
# services prevented from starting): both run here on loopback ports, as
# the test's user, and stop at the end.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use File::Basename qw(dirname);
use File::Spec;
use HTTP::Tiny;
use IPC::Run;
use Test::More;

my $contrib = File::Spec->rel2abs(dirname(__FILE__) . '/../../contrib/prometheus');
for my $bin (qw(prometheus promtool prometheus-postgres-exporter))
{
	plan skip_all => "$bin is not installed (make test installs it)"
	  unless system("command -v $bin >/dev/null 2>&1") == 0;
}

# The shipped rules: valid, and their unit tests pass.
my ($out, $err);
ok(IPC::Run::run([ 'promtool', 'check', 'rules', "$contrib/alerts.yml" ], '>', \$out, '2>', \$err),
	'promtool check rules accepts alerts.yml') or diag("$out$err");
ok(IPC::Run::run([ 'promtool', 'test', 'rules', 'alerts_test.yml' ], '>', \$out, '2>', \$err,
		init => sub { chdir $contrib or die }),
	'promtool test rules passes alerts_test.yml') or diag("$out$err");

my $node = PostgreSQL::Test::Cluster->new('prometheus');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'perfkit'\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION perfkit;
	CREATE ROLE exporter LOGIN IN ROLE pg_monitor;
	CREATE TABLE accounts (email text);
	INSERT INTO accounts VALUES ('a@example.com'), ('a@example.com');
	-- a rollup and a maintained table, so that every family has samples
	CREATE TABLE trips (at timestamptz NOT NULL, km int);
	INSERT INTO trips SELECT now() - i * interval '1 hour', i FROM generate_series(1, 48) i;
	SELECT perfkit.create_rollup('trips_daily', 'trips', 'at', 'day', measures => ARRAY['sum(km)']);
	SELECT perfkit.refresh_rollup('trips_daily');
	CREATE TABLE events (at timestamptz NOT NULL, v int) PARTITION BY RANGE (at);
	SELECT perfkit.partition_table('events', 'at', '1 day');
	CALL perfkit.run_job('history');
});
# A unique index built concurrently over duplicates is left invalid.
$node->psql('postgres', 'CREATE UNIQUE INDEX CONCURRENTLY accounts_email ON accounts (email)');
is($node->safe_psql('postgres',
		"SELECT status FROM perfkit.health() WHERE check_name = 'invalid_indexes'"),
	'warning', 'health() flags the invalid index');

my $http = HTTP::Tiny->new(timeout => 10);

# wait_for(URL, CODE): fetch URL until CODE accepts the body (60 s at most).
sub wait_for
{
	my ($url, $accept) = @_;
	for (1 .. 120)
	{
		my $r = $http->get($url);
		return $r->{content} if $r->{success} && $accept->($r->{content});
		select(undef, undef, undef, 0.5);
	}
	return undef;
}

# The exporter, on a free loopback port, as the pg_monitor role.
my $exporter_port = PostgreSQL::Test::Cluster::get_free_port();
my $dsn = sprintf('host=%s port=%d user=exporter dbname=postgres sslmode=disable',
	$node->host, $node->port);
my ($eout, $eerr) = ('', '');
my $exporter = IPC::Run::start(
	[
		'prometheus-postgres-exporter',
		"--extend.query-path=$contrib/queries.yaml",
		"--web.listen-address=127.0.0.1:$exporter_port",
		'--disable-default-metrics', '--disable-settings-metrics'
	],
	'>', \$eout, '2>', \$eerr,
	init => sub { $ENV{DATA_SOURCE_NAME} = $dsn });
my $scrape = wait_for("http://127.0.0.1:$exporter_port/metrics",
	sub { $_[0] =~ /^perfkit_health_status/m });
ok(defined $scrape, 'the exporter serves perfkit\'s metrics')
  or diag("exporter stderr: $eerr");
$scrape //= '';

like($scrape, qr/^perfkit_health_status\{check="invalid_indexes"[^}]*\} 1$/m,
	'the exporter shows perfkit_health_status{check="invalid_indexes"} 1');

# Families and types: the exporter's against metrics()'s.
sub families
{
	my ($text) = @_;
	my %t;
	$t{$1} = $2 while $text =~ /^# TYPE (perfkit_\w+) (\w+)$/mg;
	return \%t;
}

# samples(TEXT): "family{labels} value" for the samples that have a value,
# labels sorted and without the exporter's own (server).
sub samples
{
	my ($text) = @_;
	my %s;
	while ($text =~ /^(perfkit_\w+)(?:\{([^}]*)\})? (\S+)$/mg)
	{
		my ($fam, $labels, $v) = ($1, $2 // '', $3);
		next if $v eq 'NaN';
		my @l = sort grep { !/^server=/ } split /,(?=\w+=")/, $labels;
		$s{"$fam\{" . join(',', @l) . "}"} = $v + 0;
	}
	return \%s;
}
my $text = $node->safe_psql('postgres', 'SELECT perfkit.metrics()');
my ($want, $got) = (families($text), families($scrape));
ok(keys %$want >= 20, 'metrics() has its families (' . scalar(keys %$want) . ')');
is_deeply($got, $want, 'the exporter exposes every family of metrics(), with the same type');

# Samples that do not move between two reads (statuses, settings, counts).
my ($ws, $gs) = (samples($text), samples($scrape));
for my $k (sort grep { /^perfkit_(health_status|health_overall|cache_bytes_total|advisor_workload_max_entries|partition_default_rows|job_running)\{/ } keys %$ws)
{
	is($gs->{$k}, $ws->{$k}, "exporter sample $k equals metrics()'s");
}

# Prometheus scrapes the exporter and loads the rules.
my $prom_port = PostgreSQL::Test::Cluster::get_free_port();
my $dir = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$dir/prometheus.yml", <<"EOF");
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $contrib/alerts.yml
scrape_configs:
  - job_name: postgres
    static_configs:
      - targets: ['127.0.0.1:$exporter_port']
EOF
my ($pout, $perr) = ('', '');
my $prometheus = IPC::Run::start(
	[
		'prometheus', "--config.file=$dir/prometheus.yml",
		"--storage.tsdb.path=$dir/data",
		"--web.listen-address=127.0.0.1:$prom_port"
	],
	'>', \$pout, '2>', \$perr);
my $q = 'perfkit_health_status{check="invalid_indexes"}';
$q =~ s/([^A-Za-z0-9_])/sprintf('%%%02X', ord($1))/ge;
my $answer = wait_for("http://127.0.0.1:$prom_port/api/v1/query?query=$q",
	sub { $_[0] =~ /"result":\[\{/ });
ok(defined $answer, 'Prometheus answers a query over its HTTP API')
  or diag("prometheus stderr: " . substr($perr, -3000));
like($answer // '', qr/"value":\[[0-9.]+,"1"\]/,
	'Prometheus has perfkit_health_status{check="invalid_indexes"} = 1');
# the rules loaded and evaluated at least once (lastEvaluation set)
my $rules = wait_for("http://127.0.0.1:$prom_port/api/v1/rules",
	sub { $_[0] =~ /"name":"perfkit"/ && $_[0] !~ /"lastEvaluation":"0001-01-01/ });
my $n = () = ($rules // '') =~ /"type":"alerting"/g;
is($n, 7, 'Prometheus loaded the 7 alert rules of alerts.yml');
unlike($rules // '', qr/"health":"err"/, 'and none fails to evaluate');

$prometheus->kill_kill;
$exporter->kill_kill;
$node->stop;
done_testing();
