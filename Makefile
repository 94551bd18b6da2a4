# perfkit: PGXS build.
#
# Each room of src/ holds its C and its SQL.  The install script
# perfkit--$(EXTVERSION).sql is built (never committed) by concatenating the
# rooms' SQL in the order of SQL_ROOMS: the foundation first (schema,
# scheduling), the registry of health checks (each room declares its own
# checks in its file), the job registry, then each capability, and health()
# itself last since it reads every room.  Within a file, objects come
# before what uses them.  src/updates/ holds the upgrade scripts perfkit--A--B.sql: deltas,
# catalog changes first, then the changed functions.  sql/ and expected/
# are pg_regress inputs and outputs only.

EXTENSION = perfkit
MODULE_big = perfkit
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

SRCS = $(sort $(wildcard src/*.c src/*/*.c))
OBJS = $(SRCS:.c=.o)

SQL_ROOMS = \
	src/perfkit.sql \
	src/schedule.sql \
	src/health/checks.sql \
	src/jobs.sql \
	src/cache/cache.sql \
	src/rollup/rollup.sql \
	src/partition/partition.sql \
	src/advisor/advisor.sql \
	src/health/health.sql

DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(sort $(wildcard src/updates/$(EXTENSION)--*--*.sql))

PG_CPPFLAGS = -I$(srcdir)/include -I$(libpq_srcdir)
# libpq: cached() over Citus tables asks every node for the versions of its
# shards on connections it keeps (src/cache/citus.c), as dblink links it.
SHLIB_LINK_INTERNAL = $(libpq)
# -Wall -Wextra on top of PostgreSQL's own flags.  Only unused-parameter is
# off: PG_FUNCTION_ARGS leaves fcinfo unused in many SQL-callable functions.
# Every other warning is an error under WERROR=1 (what "make test" builds).
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter
ifeq ($(WERROR),1)
PG_CFLAGS += -Werror
endif

PG_CONFIG ?= pg_config
PGXS := $(wildcard $(shell $(PG_CONFIG) --pgxs 2>/dev/null))
ifneq ($(PGXS),)
include $(PGXS)
else
# No PGXS yet (a fresh machine): "make test" and "make demo" still work,
# since they install postgresql-server-dev-15 before building.
all install:
	@echo "PGXS not found: run 'make test' or 'make demo' (they install what is missing)," \
		"or apt-get install postgresql-server-dev-15" >&2; exit 1
endif

# Objects depend on every header: the headers are few and small.
$(OBJS): $(wildcard include/perfkit/*.h)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_ROOMS) $(EXTENSION).control
	@{ printf '%s\n' \
		'/* $@: built by make from the rooms of src/ (see the Makefile); do not edit */' \
		'' \
		'-- complain if script is sourced in psql, rather than via CREATE EXTENSION' \
		'\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	  for f in $(SQL_ROOMS); do printf '\n/* ---- %s ---- */\n\n' "$$f"; cat "$$f"; done; } >$@

.PHONY: test demo demo-stop bench print-sql-rooms

# The whole test suite: installs what is missing, builds with -Werror,
# installs, then runs pg_regress, isolation and TAP suites.
test:
	@bash test/run.sh

# A throwaway cluster under .demo/ with sample data and a guided tour.
demo:
	@bash test/demo/demo.sh start

demo-stop:
	@bash test/demo/demo.sh stop

# The rooms' SQL in install order (for test/t/011_upgrade.pl).
print-sql-rooms:
	@echo $(SQL_ROOMS)

# make bench BENCH=preload_overhead
BENCH ?= preload_overhead
bench:
	@bash test/bench/run.sh $(BENCH)
