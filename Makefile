# libmesh: libmesh.so (shim/), meshd (daemon/), tests, demo.
#
#   make                    build build/libmesh.so and build/meshd
#   make test               install missing packages, unit + integration tests
#   make demo               install missing packages, run a two-host mesh on loopback
#   make install            PREFIX=/usr/local DESTDIR= (make uninstall: the same)
#   make SANITIZE=address   (or undefined, or address,undefined with
#                           BUILD=build-address-undefined as make test does)
#                           sanitizer build of meshd and unit tests into
#                           build-address/ (build-undefined/)
#   make fuzz               build the libFuzzer targets (tests/fuzz/) into
#                           build-fuzz/ and fuzz each for FUZZ_TIME seconds
#   make fuzz-check         each target over its seeds and regression inputs,
#                           plus a few seconds of fuzzing (part of make test)
#   make format             apply .clang-format to every tracked .c/.h file
#   make format-check       fail when a file is not in that style

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
SANITIZE ?=
WERROR   ?= -Werror

ifeq ($(SANITIZE),)
BUILD    ?= build
SANFLAGS :=
else
BUILD    ?= build-$(SANITIZE)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

BUILD_SAN := build-address-undefined
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes $(WERROR)
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) -MMD -MP
# -Idaemon: the shim's verdict words and errnos are daemon/result.h's (a
# header only, pure); the shim links nothing of meshd's.
SHIM_CFLAGS := $(CFLAGS) -fPIC -fvisibility=hidden -pthread -Idaemon
DAEMON_CFLAGS := $(CFLAGS) $(SANFLAGS) -pthread -Ishim -Idaemon

SHIM_SRC   := shim/libmesh.c shim/resolve.c shim/intercept.c shim/snapshot.c shim/verdict.c \
              shim/ctlclient.c shim/iohooks.c shim/debug.c shim/routes.c shim/ctlproto.c \
              shim/dlhooks.c
DAEMON_LIB_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c)) shim/snapshot.c shim/ctlproto.c
DAEMON_LIBS := -lev -linih -lssl -lcrypto -lresolv -lpthread -lm

SHIM_OBJ   := $(SHIM_SRC:%.c=$(BUILD)/shim-obj/%.o)
DAEMON_LIB_OBJ := $(DAEMON_LIB_SRC:%.c=$(BUILD)/obj/%.o)

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

TOOLS      := $(BUILD)/mksnap $(BUILD)/sendbench $(BUILD)/shimbench

# libFuzzer targets, one per parser of untrusted bytes (tests/fuzz/README.md).
# Built with clang, AddressSanitizer and UndefinedBehaviorSanitizer; the
# daemon's and the shared shim codecs' objects are rebuilt with the same
# instrumentation into build-fuzz/.
FUZZ_CC      ?= clang
FUZZ_TIME    ?= 60
FUZZ_CHECK_TIME ?= 5
FUZZ_BUILD   := build-fuzz
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) \
                $(FUZZ_SAN) -fsanitize=fuzzer-no-link -pthread -Ishim -Idaemon
FUZZ_LIB_OBJ := $(DAEMON_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
# libFuzzer's own options for every run: artifacts (crashers, leaks,
# timeouts) land in build-fuzz/artifacts/<target>/ so that they can be
# looked at and moved to tests/fuzz/regress/<target>/.
FUZZ_OPTS    ?= -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1

.PHONY: all tools test unit integration demo install clean deps bench fuzz fuzz-build fuzz-check fuzz-cc
all: $(BUILD)/libmesh.so $(BUILD)/meshd
tools: $(TOOLS)

$(BUILD)/shim-obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -c -o $@ $<

$(BUILD)/libmesh.so: $(SHIM_OBJ) shim/libmesh.map
	$(CC) -shared -fPIC -pthread -Wl,--version-script=shim/libmesh.map -Wl,-z,now -o $@ $(SHIM_OBJ) -ldl

$(BUILD)/libmeshd.a: $(DAEMON_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/meshd: $(BUILD)/obj/daemon/main.o $(BUILD)/libmeshd.a
	$(CC) $(SANFLAGS) -pthread -o $@ $^ $(DAEMON_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libmeshd.a
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -Wno-missing-prototypes -o $@ $< $(BUILD)/libmeshd.a $(DAEMON_LIBS) -lcmocka

$(BUILD)/mksnap: tests/tools/mksnap.c shim/snapshot.c shim/snapshot.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ishim -o $@ tests/tools/mksnap.c shim/snapshot.c

$(BUILD)/shimbench: tests/tools/shimbench.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ tests/tools/shimbench.c

$(BUILD)/sendbench: tests/tools/sendbench.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ tests/tools/sendbench.c

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/libmeshd.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libmeshd.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP -o $@ $< $(FUZZ_BUILD)/libmeshd.a $(DAEMON_LIBS)

fuzz-build: fuzz-cc $(FUZZ_BIN)

# libFuzzer comes with clang (Debian: the clang package).
fuzz-cc:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || \
		{ echo "fuzz: $(FUZZ_CC) not found; the fuzz targets need clang with libFuzzer (apt-get install clang)" >&2; exit 1; }

# Fuzz each target for FUZZ_TIME seconds. New inputs grow build-fuzz/corpus/;
# the seeds (tests/fuzz/corpus/) and regression inputs (tests/fuzz/regress/)
# are read, never written.
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		d=tests/fuzz/fuzz_$$t.dict; FUZZ_DICT=; [ ! -f $$d ] || FUZZ_DICT=-dict=$$d; \
		echo "== fuzz_$$t ($(FUZZ_TIME) s)"; \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t tests/fuzz/regress/$$t; \
		$(FUZZ_BUILD)/fuzz_$$t $(FUZZ_OPTS) -max_total_time=$(FUZZ_TIME) \
			-artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ $$FUZZ_DICT \
			$(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t tests/fuzz/regress/$$t \
			|| { echo "fuzz_$$t FAILED: the input is in $(FUZZ_BUILD)/artifacts/$$t/"; exit 1; }; \
	done

# make test's share: every seed and regression input once, then a few
# seconds of fuzzing from them, in a scratch corpus.
fuzz-check: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		d=tests/fuzz/fuzz_$$t.dict; FUZZ_DICT=; [ ! -f $$d ] || FUZZ_DICT=-dict=$$d; \
		rm -rf $(FUZZ_BUILD)/check/$$t; \
		mkdir -p $(FUZZ_BUILD)/check/$$t $(FUZZ_BUILD)/artifacts/$$t tests/fuzz/regress/$$t; \
		if $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_OPTS) -max_total_time=$(FUZZ_CHECK_TIME) \
			-artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ $$FUZZ_DICT \
			$(FUZZ_BUILD)/check/$$t tests/fuzz/corpus/$$t tests/fuzz/regress/$$t \
			>$(FUZZ_BUILD)/check/$$t.log 2>&1; then \
			echo "fuzz-check: fuzz_$$t ok ($$(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' $(FUZZ_BUILD)/check/$$t.log | grep -o '[0-9]*$$') runs)"; \
		else \
			tail -n 40 $(FUZZ_BUILD)/check/$$t.log; \
			echo "fuzz-check: fuzz_$$t FAILED (log $(FUZZ_BUILD)/check/$$t.log, input in $(FUZZ_BUILD)/artifacts/$$t/)"; \
			exit 1; \
		fi; \
	done

deps:
	@scripts/deps.sh

# The unit tests' binaries, built and not run.
.PHONY: unit-build
unit-build: $(UNIT_BIN)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

# Part of make unit: the I/O hooks' rows (shim/iohooks.h) and the other
# hooks, shim/libmesh.map and libmesh.so's exports name the same functions.
.PHONY: check-exports
unit: check-exports
check-exports: $(BUILD)/libmesh.so
	@CC="$(CC)" tests/unit/check_exports.sh $<

# Part of make unit: the dlopen/dlmopen hooks end in tail calls, so that
# glibc still sees the program as the caller (tests/unit/check_tailcall.sh).
.PHONY: check-tailcall
unit: check-tailcall
check-tailcall: $(BUILD)/libmesh.so
	@tests/unit/check_tailcall.sh $<

# Part of make unit: every call between meshd's files points down the
# layers listed in README.md's Layout section (tests/unit/check_layers.sh).
.PHONY: check-layers
unit: check-layers
check-layers: $(BUILD)/meshd
	@tests/unit/check_layers.sh $(BUILD)

integration: all tools
	@tests/integration/run.sh

# make test: unit tests (plain, and with AddressSanitizer and
# UndefinedBehaviorSanitizer together), the fuzz targets over their seeds and
# regression inputs (fuzz-check), then every integration scenario twice: with
# the plain meshd and with the sanitized one (MESHD=build-address-undefined/meshd),
# where any report of either sanitizer fails the scenario. One build with both
# sanitizers instead of one run each: the same checks in two thirds of the time.
#
# The builds run JOBS compiles at once (the machine's cores); the unit
# tests run one after another; the integration scenarios TEST_JOBS at once
# (run.sh -j: most of a scenario's time is waiting for daemons and
# timers, and those marked "# serial" run alone).
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
TEST_JOBS ?= 2
test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all tools unit-build
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory -j$(JOBS) SANITIZE=address,undefined BUILD=$(BUILD_SAN) all unit-build
	@$(MAKE) --no-print-directory SANITIZE=address,undefined BUILD=$(BUILD_SAN) unit
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz-build
	@$(MAKE) --no-print-directory fuzz-check
	@tests/integration/run.sh -j$(TEST_JOBS)
	@MESHD=$(BUILD_SAN)/meshd tests/integration/run.sh -j$(TEST_JOBS) --sanitize

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench:
	@scripts/deps.sh --bench
	@$(MAKE) --no-print-directory all tools
	@scripts/bench.sh

# make install: the layout of meshd.service, mesh.ini(5) and the README's
# "Installing". SYSCONFDIR and the unit, logrotate and config files are
# under DESTDIR but not PREFIX (systemd and logrotate look in /etc);
# mesh.ini is installed only when absent, and uninstall leaves it (and
# the certificates beside it) in place.
SYSCONFDIR ?= /etc
SBINDIR    := $(PREFIX)/sbin
BINDIR     := $(PREFIX)/bin
LIBMESHDIR := $(PREFIX)/lib/libmesh
UNITDIR    ?= $(PREFIX)/lib/systemd/system
MANDIR     := $(PREFIX)/share/man
MAN_PAGES  := conf/man/meshd.8 conf/man/meshctl.1 conf/man/mesh-run.1 conf/man/libmesh.7 conf/man/mesh.ini.5
BIN_SCRIPTS := scripts/meshctl scripts/mesh-certs

.PHONY: uninstall
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBMESHDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(SYSCONFDIR)/libmesh \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILD)/meshd $(DESTDIR)$(SBINDIR)/meshd
	install -m 0644 $(BUILD)/libmesh.so $(DESTDIR)$(LIBMESHDIR)/libmesh.so
	sed 's|@LIBDIR@|$(LIBMESHDIR)|' scripts/mesh-run >$(DESTDIR)$(BINDIR)/mesh-run.tmp
	chmod 0755 $(DESTDIR)$(BINDIR)/mesh-run.tmp
	mv -f $(DESTDIR)$(BINDIR)/mesh-run.tmp $(DESTDIR)$(BINDIR)/mesh-run
	install -m 0755 $(BIN_SCRIPTS) $(DESTDIR)$(BINDIR)/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' conf/systemd/meshd.service \
		>$(DESTDIR)$(UNITDIR)/meshd.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/meshd.service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/meshd.service.tmp $(DESTDIR)$(UNITDIR)/meshd.service
	install -m 0644 conf/logrotate/libmesh $(DESTDIR)$(SYSCONFDIR)/logrotate.d/libmesh
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/libmesh/mesh.ini ]; then \
		echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/libmesh/mesh.ini"; \
	else \
		echo "install -m 0644 conf/mesh.ini $(DESTDIR)$(SYSCONFDIR)/libmesh/mesh.ini"; \
		install -m 0644 conf/mesh.ini $(DESTDIR)$(SYSCONFDIR)/libmesh/mesh.ini; \
	fi
	@set -e; for m in $(MAN_PAGES); do \
		s=$${m##*.}; echo "install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/"; \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; \
	done

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/meshd $(DESTDIR)$(LIBMESHDIR)/libmesh.so \
		$(DESTDIR)$(BINDIR)/mesh-run $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(BIN_SCRIPTS))) \
		$(DESTDIR)$(UNITDIR)/meshd.service $(DESTDIR)$(SYSCONFDIR)/logrotate.d/libmesh
	@set -e; for m in $(MAN_PAGES); do \
		f=$(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; echo "rm -f $$f"; rm -f $$f; \
	done
	rmdir $(DESTDIR)$(LIBMESHDIR) 2>/dev/null || true
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/libmesh/mesh.ini ]; then \
		echo "uninstall: $(DESTDIR)$(SYSCONFDIR)/libmesh/mesh.ini is yours: left in place"; fi

# The whole tree's C in one style (.clang-format; clang-format 14 on Debian 12).
FORMAT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
.PHONY: format format-check
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "format-check: $(words $(FORMAT_SRC)) files in .clang-format style"

clean:
	rm -rf build build-address build-undefined $(BUILD_SAN) $(FUZZ_BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
ifneq ($(filter fuzz fuzz-build fuzz-check $(FUZZ_BUILD)/%,$(MAKECMDGOALS)),)
-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
endif
