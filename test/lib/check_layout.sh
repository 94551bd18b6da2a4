#!/usr/bin/env bash
# Enforces the rule for sql/ (see the Makefile): perfkit--*.sql are install
# and upgrade scripts; every other sql/*.sql is a regress input listed in
# test/schedule, with expected/<name>.out; every listed test has both.
set -euo pipefail
cd "$(dirname "$0")/../.."
status=0
listed=$(sed -n 's/^test:[[:space:]]*//p' test/schedule | tr ' ' '\n' | sed '/^$/d')
for f in sql/*.sql; do
	name=$(basename "$f" .sql)
	case "$name" in perfkit--*) continue ;; esac
	grep -qx "$name" <<<"$listed" || { echo "layout: $f is not listed in test/schedule"; status=1; }
done
for name in $listed; do
	[ -f "sql/$name.sql" ] || { echo "layout: test/schedule lists $name but sql/$name.sql is missing"; status=1; }
	[ -f "expected/$name.out" ] || { echo "layout: expected/$name.out is missing"; status=1; }
done
for f in expected/*.out; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .out)
	name=${name%_[0-9]}
	[ -f "sql/$name.sql" ] || { echo "layout: $f has no sql/$name.sql"; status=1; }
done
exit $status
