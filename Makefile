# activity streamer: one static library shared by both programs, the
# server daemon, the terminal client, and their tests.
#
#   make all        build bin/activity-server, bin/activity-tui, bin/activity-bench
#   make test       unit, integration, TUI, chaos, network, man page and systemd tests
#   make unit       the cmocka unit tests
#   make integration  real servers on loopback ports
#   make tui-test   activity-tui driven in tmux against real servers
#   make chaos      servers killed, stopped and restarted under traffic
#   make check-man  mandoc -Tlint; --help and make help against the docs
#   make check-systemd  the systemd unit file
#   make check-asan the suites under AddressSanitizer + UBSan
#   make check-valgrind  the integration tests under valgrind
#   make test-net   servers on hosts of their own (network namespaces; root)
#   make test-stress every suite STRESS_RUNS times beside a CPU hog
#   make mutants    the mutation catalogue against the suites (slow)
#   make unit-bins  build the unit test programs only
#   make integration-bins  build the integration test programs only
#   make chaos-bin  build the chaos test program only
#   make demo       a local 3-server cluster with activity-tui on it
#   make bench      the standard benchmark set
#   make bench-deps install nats-server and curl for make bench's comparisons
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each
#   make lint       mandoc -Tlint on the man pages
#   make install    programs and man pages under PREFIX
#   make install-systemd  the unit activity-server@.service (not by install)
#   make uninstall  remove what install and install-systemd put there
#   make clean      remove the build and bin directories
#   make deps       install the Debian packages everything needs
#   make help       this list
#
# One version for the project: both programs print VERSION.

VERSION	 = 1.1.0

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR	?=

CC	?= cc
OPT	?= -O2 -g
SAN	?=
B	?= build
BIN	?= bin

PKGS	 = libevent libevent_openssl openssl libcjson ncursesw cmocka libcrypto \
	   libcrypt
DEB_PKGS = build-essential pkg-config libevent-dev libcjson-dev \
	   libncurses-dev libcmocka-dev libssl-dev libcrypt-dev openssl \
	   iproute2 mandoc tmux \
	   clang libclang-rt-14-dev \
	   valgrind procps

# A fresh machine lacks the libraries: install them before anything
# reads pkg-config, but only when something is missing.
NEED_DEPS := $(shell pkg-config --exists $(PKGS) 2>/dev/null && \
	command -v mandoc >/dev/null && command -v tmux >/dev/null && \
	command -v openssl >/dev/null && \
	echo no || echo yes)
ifeq ($(NEED_DEPS),yes)
ifeq ($(filter deps bench-deps clean help,$(MAKECMDGOALS)),)
$(info make: libraries or tools missing, running 'make deps' first)
DEPS_STATUS := $(shell $(MAKE) --no-print-directory deps >&2; echo $$?)
ifneq ($(DEPS_STATUS),0)
$(error 'make deps' failed; run it by hand to see why)
endif
endif
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
EV_LIBS    := $(shell pkg-config --libs libevent libevent_openssl openssl 2>/dev/null)
CJSON_LIBS := $(shell pkg-config --libs libcjson 2>/dev/null)
CURSES_LIBS:= $(shell pkg-config --libs ncursesw 2>/dev/null)
CMOCKA_LIBS:= $(shell pkg-config --libs cmocka 2>/dev/null)
CRYPTO_LIBS:= $(shell pkg-config --libs libcrypto libcrypt 2>/dev/null) -lpthread

WARN	 = -Wall -Wextra -Wshadow -Wpointer-arith -Wmissing-prototypes \
	   -Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS	+= $(OPT) $(SAN) -std=gnu11 $(WARN) -D_GNU_SOURCE \
	   -DACTIVITY_VERSION='"$(VERSION)"' -Icommon $(PKG_CFLAGS) -MMD -MP
LDFLAGS	+= $(SAN)

COMMON_SRC  = $(wildcard common/*.c)
SERVER_SRC  = $(filter-out server/main.c,$(wildcard server/*.c))
TUI_SRC     = $(filter-out tui_client/main.c,$(wildcard tui_client/*.c))
BENCH_SRC   = $(wildcard tests/bench/*.c)

COMMON_OBJ  = $(COMMON_SRC:%.c=$(B)/%.o)
SERVER_OBJ  = $(SERVER_SRC:%.c=$(B)/%.o)
TUI_OBJ     = $(TUI_SRC:%.c=$(B)/%.o)
BENCH_OBJ   = $(BENCH_SRC:%.c=$(B)/%.o)

LIBCOMMON   = $(B)/libcommon.a
LIBSERVER   = $(B)/libserver.a
LIBTUI      = $(B)/libtui.a

PROGS	= $(BIN)/activity-server $(BIN)/activity-tui
ifneq ($(BENCH_SRC),)
PROGS	+= $(BIN)/activity-bench
endif

UNIT_SRC    = $(wildcard tests/unit/test_*.c)
UNIT_BINS   = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
INTEG_SRC   = $(wildcard tests/integration/it_*.c)
INTEG_BINS  = $(INTEG_SRC:tests/integration/%.c=$(B)/tests/%)
HARNESS_OBJ = $(B)/tests/integration/harness.o $(B)/tests/integration/relay.o $(B)/tests/integration/fclient.o

.PHONY: all test unit integration tui-test chaos check-man check-asan \
	check-valgrind check-systemd test-stress mutants unit-bins \
	integration-bins chaos-bin demo bench bench-deps test-net \
	fuzz install install-systemd uninstall clean deps lint help

all: $(PROGS)

# What prints the version is built again when VERSION changes.
VERSION_STAMP = $(B)/version-$(VERSION)
$(VERSION_STAMP):
	@mkdir -p $(@D)
	@rm -f $(B)/version-*
	@touch $@
$(B)/server/main.o $(B)/server/monitor.o $(B)/tui_client/main.o \
    $(B)/tui_client/tui.o: $(VERSION_STAMP)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJ)
	$(AR) rcs $@ $^
$(LIBSERVER): $(SERVER_OBJ)
	$(AR) rcs $@ $^
$(LIBTUI): $(TUI_OBJ)
	$(AR) rcs $@ $^

$(BIN)/activity-server: $(B)/server/main.o $(LIBSERVER) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(EV_LIBS) $(CRYPTO_LIBS) -lm

$(BIN)/activity-tui: $(B)/tui_client/main.o $(LIBTUI) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(CURSES_LIBS) $(EV_LIBS) $(CRYPTO_LIBS) -lm

# The history workload measures the server's history module in-process.
$(B)/tests/bench/histlog.o: CFLAGS += -Iserver
$(BIN)/activity-bench: $(BENCH_OBJ) $(LIBSERVER) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(EV_LIBS) $(CRYPTO_LIBS) -lm

# Unit tests link only the libraries; each is one cmocka binary.
$(B)/tests/test_%: $(B)/tests/unit/test_%.o $(LIBSERVER) $(LIBTUI) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(EV_LIBS) $(CJSON_LIBS) $(CURSES_LIBS) $(CRYPTO_LIBS) -lm

$(B)/tests/it_%: $(B)/tests/integration/it_%.o $(HARNESS_OBJ) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(EV_LIBS) $(CJSON_LIBS) $(CRYPTO_LIBS) -lm

$(B)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iserver -Itui_client -c -o $@ $<
$(B)/tests/integration/%.o: tests/integration/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/integration -c -o $@ $<

# An LD_PRELOAD seam that records or fails fdatasync (it_guarantee):
# built without sanitizers, so that it loads beside any server build.
FSYNC_SHIM  = $(B)/tests/fsync_shim.so
$(FSYNC_SHIM): tests/integration/fsync_shim.c
	@mkdir -p $(@D)
	$(CC) $(OPT) -std=gnu11 $(WARN) -D_GNU_SOURCE -fPIC -shared -o $@ $< -ldl
export IT_FSYNC_SHIM = $(CURDIR)/$(FSYNC_SHIM)

CHAOS_BIN   = $(B)/tests/chaos_test

$(CHAOS_BIN): $(B)/tests/chaos/chaos.o $(HARNESS_OBJ) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(EV_LIBS) $(CJSON_LIBS) $(CRYPTO_LIBS) -lm -lpthread
$(B)/tests/chaos/%.o: tests/chaos/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/integration -c -o $@ $<

NET_SRC     = $(wildcard tests/net/*.c)
NET_BIN     = $(B)/tests/net_test

$(NET_BIN): $(NET_SRC:%.c=$(B)/%.o) $(HARNESS_OBJ) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(EV_LIBS) $(CJSON_LIBS) -lm -lpthread
$(B)/tests/net/%.o: tests/net/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/integration -c -o $@ $<

test: all unit integration tui-test chaos test-net check-man check-systemd

# Skipped (and passing) without root and ip netns: see tests/net/run.sh.
test-net: all $(NET_BIN)
	@ACTIVITY_BIN=$(CURDIR)/$(BIN) tests/net/run.sh $(NET_BIN)

# Build only (make mutants builds each mutant this way).
unit-bins: $(UNIT_BINS)
integration-bins: $(INTEG_BINS) $(FSYNC_SHIM)
chaos-bin: $(CHAOS_BIN)

# Each mutation of tests/mutants/catalogue against the suites: slow.
mutants:
	@python3 tests/mutants/run.py

chaos: all $(CHAOS_BIN)
	@ACTIVITY_BIN=$(CURDIR)/$(BIN) tests/run-tests.sh chaos $(CHAOS_BIN)

unit: $(UNIT_BINS)
	@tests/run-tests.sh unit $(UNIT_BINS)

integration: all $(INTEG_BINS) $(FSYNC_SHIM)
	@ACTIVITY_BIN=$(CURDIR)/$(BIN) tests/run-tests.sh integration $(INTEG_BINS)

tui-test: all
	@ACTIVITY_BIN=$(CURDIR)/$(BIN) tests/tui/run.sh

check-man: all
	@BIN=$(BIN) tests/check-man.sh

check-systemd: all
	@ACTIVITY_BIN=$(BIN) tests/check-systemd.sh

# Every suite STRESS_RUNS times over with one core kept busy: a test
# that fails under load is a failing test.
STRESS_RUNS ?= 20
test-stress: all $(UNIT_BINS) $(INTEG_BINS) $(CHAOS_BIN) $(FSYNC_SHIM)
	@ACTIVITY_BIN=$(CURDIR)/$(BIN) tests/run-tests.sh \
	    --repeat $(STRESS_RUNS) --hog stress $(UNIT_BINS) $(INTEG_BINS) \
	    tests/tui/run.sh $(CHAOS_BIN)

check-asan:
	$(MAKE) B=build-asan BIN=bin-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    unit integration tui-test chaos

# The integration tests with every server under valgrind memcheck: any
# invalid access or definite leak makes the server exit 99, which the
# harness reports as a failure.  Slow: timeouts are stretched.
check-valgrind: all $(INTEG_BINS) $(FSYNC_SHIM)
	@ACTIVITY_BIN=$(CURDIR)/$(BIN) IT_TIMEOUT_MS=30000 \
	    IT_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite" \
	    tests/run-tests.sh valgrind $(INTEG_BINS)

demo: all
	@tests/demo.sh

bench: all
	@tests/bench/run.sh

fuzz:
	@tests/fuzz/run.sh

lint:
	mandoc -Tlint -W warning man/*.[1-9]

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(BIN)/activity-server $(BIN)/activity-tui $(DESTDIR)$(BINDIR)/
	install -m 644 man/activity-server.1 man/activity-tui.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/activity-server.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 man/activity-protocol.7 $(DESTDIR)$(MANDIR)/man7/

# The unit runs $(BINDIR)/activity-server: install it with the same PREFIX.
install-systemd:
	install -d $(DESTDIR)$(SYSTEMDDIR)
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/systemd/activity-server@.service \
	    >$(DESTDIR)$(SYSTEMDDIR)/activity-server@.service
	chmod 644 $(DESTDIR)$(SYSTEMDDIR)/activity-server@.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/activity-server $(DESTDIR)$(BINDIR)/activity-tui
	rm -f $(DESTDIR)$(MANDIR)/man1/activity-server.1 $(DESTDIR)$(MANDIR)/man1/activity-tui.1
	rm -f $(DESTDIR)$(MANDIR)/man5/activity-server.conf.5
	rm -f $(DESTDIR)$(MANDIR)/man7/activity-protocol.7
	rm -f $(DESTDIR)$(SYSTEMDDIR)/activity-server@.service

clean:
	rm -rf build build-asan build-fuzz bin bin-asan

deps:
	@if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	    --no-install-recommends $(DEB_PKGS)

# Not in deps: CI does not run the benchmarks.
bench-deps:
	@if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	    --no-install-recommends nats-server curl openssl

help:
	@sed -n '3,/^$$/s/^#   //p' Makefile

.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
