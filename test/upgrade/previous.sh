#!/usr/bin/env bash
# test/upgrade/previous.sh EXTDIR: install into EXTDIR (the server's
# share/extension directory) the install script of every earlier release
# that an update script in src/updates/ starts from, so that
# test/t/011_upgrade.pl can install that release and update it.
#
# A release's install script is built, as every install script is, from
# its rooms' sources: those of the git tag v<version>, checked out into a
# temporary directory.  A clone without the tag fails here, loudly, rather
# than let the upgrade test pass untested.
set -euo pipefail
cd "$(dirname "$0")/../.."
extdir=$1
for u in src/updates/perfkit--*--*.sql; do
	[ -e "$u" ] || continue
	from=${u#src/updates/perfkit--}
	from=${from%%--*}
	git rev-parse -q --verify "refs/tags/v$from" >/dev/null || {
		echo "error: $u updates release $from, whose tag v$from is not in this clone;" \
			"run: git fetch --tags" >&2
		exit 1
	}
	tmp=$(mktemp -d)
	git archive "v$from" | tar -x -C "$tmp"
	make -s -C "$tmp" "perfkit--$from.sql"
	cp "$tmp/perfkit--$from.sql" "$extdir/"
	rm -rf "$tmp"
	echo "upgrade test: release $from installed from tag v$from"
done
