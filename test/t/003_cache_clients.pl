# cached() and cached_rows() from real clients: Debian's python3-psycopg2
# and python3-psycopg pass Python ints, dates and mixed lists as they
# send them (int[], date[], jsonb), and get cached_rows() back with their
# own types (int, Decimal, date, datetime).  Every answer is compared with
# the same query run directly through the same client.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cache_clients');
$node->init;
$node->append_conf('postgresql.conf', qq{shared_preload_libraries = 'perfkit'});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION perfkit;
	CREATE TABLE trips (id int PRIMARY KEY, day date NOT NULL, km numeric(8,2) NOT NULL,
						at timestamptz NOT NULL, paid boolean NOT NULL);
	INSERT INTO trips SELECT i, DATE '2026-01-01' + i, i * 1.25,
		TIMESTAMPTZ '2026-01-01 08:00+00' + i * INTERVAL '1 hour', i % 2 = 0
	FROM generate_series(1, 50) i;
});

my $script = <<'PY';
import sys, datetime, decimal

def run(mod, connect, Json):
    conn = connect(sys.argv[1])
    conn.autocommit = True
    cur = conn.cursor()
    checks = []

    def direct(sql, params):
        cur.execute(sql, params)
        return [list(r) for r in cur.fetchall()]

    def cached_json(sql, params):
        cur.execute("SELECT perfkit.cached(%s, %s)", (sql.replace('%s', '$1', 1)
                    .replace('%s', '$2', 1).replace('%s', '$3', 1), params))
        return cur.fetchone()[0]

    # an int list: int[] on the wire
    q = "SELECT count(*) AS n, sum(km) AS km FROM trips WHERE id <= %s"
    for _ in range(2):
        got = cached_json(q, [42])
        want = direct(q, (42,))
        checks.append(("int list", got[0]["n"] == want[0][0] and
                       decimal.Decimal(str(got[0]["km"])) == want[0][1]))
    # a date list: date[]
    q = "SELECT count(*) AS n FROM trips WHERE day >= %s"
    got = cached_json(q, [datetime.date(2026, 2, 1)])
    checks.append(("date list", got[0]["n"] == direct(q, (datetime.date(2026, 2, 1),))[0][0]))
    # a mixed list: jsonb
    q = "SELECT count(*) AS n FROM trips WHERE id > %s AND day < %s AND paid = %s"
    p = [5, "2026-01-30", True]
    got = cached_json(q, Json(p))
    checks.append(("mixed list", got[0]["n"] ==
                   direct(q, (5, datetime.date(2026, 1, 30), True))[0][0]))
    # the text[] form still works
    cur.execute("SELECT perfkit.cached('SELECT count(*) AS n FROM trips WHERE id <= $1', %s::text[])",
                (["10"],))
    checks.append(("text[]", cur.fetchone()[0][0]["n"] == 10))
    # cached_rows(): native types, equal to the direct query
    sql = "SELECT id, day, km, at, paid FROM trips WHERE id BETWEEN $1 AND $2 ORDER BY id"
    for _ in range(2):
        cur.execute("SELECT * FROM perfkit.cached_rows(%s, %s) AS t(id int, day date, "
                    "km numeric, at timestamptz, paid boolean)", (sql, [3, 7]))
        rows = [list(r) for r in cur.fetchall()]
        want = direct("SELECT id, day, km, at, paid FROM trips WHERE id BETWEEN %s AND %s ORDER BY id",
                      (3, 7))
        checks.append(("cached_rows values", rows == want))
        checks.append(("cached_rows types",
                       isinstance(rows[0][0], int) and isinstance(rows[0][1], datetime.date) and
                       isinstance(rows[0][2], decimal.Decimal) and
                       isinstance(rows[0][3], datetime.datetime) and isinstance(rows[0][4], bool)))
    cur.execute("SELECT hits FROM perfkit.cache_stats()")
    checks.append(("served from the cache", cur.fetchone()[0] >= 2))
    for name, ok in checks:
        print("%s %s: %s" % (mod, name, "ok" if ok else "FAILED"))
    conn.close()

import psycopg2, psycopg2.extras
run("psycopg2", psycopg2.connect, psycopg2.extras.Json)
import psycopg, psycopg.types.json
run("psycopg", psycopg.connect, psycopg.types.json.Jsonb)
PY

my $file = "${PostgreSQL::Test::Utils::tmp_check}/clients.py";
open(my $fh, '>', $file) or die "cannot write $file: $!";
print $fh $script;
close($fh);

my $connstr = $node->connstr('postgres');
my ($out, $err);
IPC::Run::run([ '/usr/bin/python3', $file, $connstr ], '>', \$out, '2>', \$err);
diag($err) if $err;
my @lines = split /\n/, $out;
ok(scalar(@lines) >= 20, 'both clients ran every check') or diag($out);
for my $line (@lines)
{
	like($line, qr/: ok$/, $line);
}
$node->stop;
done_testing();
