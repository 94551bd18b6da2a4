# perfkit: PGXS build.
#
# Layout rule for sql/: files named perfkit--*.sql are install and upgrade
# scripts (installed as DATA); every other sql/*.sql is a pg_regress input,
# listed in test/schedule, whose expected output is expected/<name>.out.
# "make check-layout" enforces that rule; "make test" runs it first.

EXTENSION = perfkit
MODULE_big = perfkit

SRCS = $(sort $(wildcard src/*.c src/*/*.c))
OBJS = $(SRCS:.c=.o)
DATA = $(sort $(wildcard sql/$(EXTENSION)--*.sql))

PG_CPPFLAGS = -I$(srcdir)/include
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

.PHONY: test demo demo-stop bench check-layout

# The whole test suite: installs what is missing, builds with -Werror,
# installs, then runs pg_regress, isolation and TAP suites.
test:
	@bash test/run.sh

# A throwaway cluster under .demo/ with sample data and a guided tour.
demo:
	@bash test/demo/demo.sh start

demo-stop:
	@bash test/demo/demo.sh stop

# make bench BENCH=preload_overhead
BENCH ?= preload_overhead
bench:
	@bash test/bench/run.sh $(BENCH)

check-layout:
	@bash test/lib/check_layout.sh
