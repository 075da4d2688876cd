# libmesh: libmesh.so (shim/), meshd (daemon/), tests, demo.
#
#   make                    build build/libmesh.so and build/meshd
#   make test               install missing packages, unit + integration tests
#   make demo               install missing packages, run a two-host mesh on loopback
#   make install            PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address   (or undefined) sanitizer build of meshd and unit tests
#                           into build-address/ (build-undefined/)

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

BUILD_ASAN := build-address
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes $(WERROR)
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) -MMD -MP
SHIM_CFLAGS := $(CFLAGS) -fPIC -fvisibility=hidden -pthread
DAEMON_CFLAGS := $(CFLAGS) $(SANFLAGS) -pthread -Ishim -Idaemon

SHIM_SRC   := shim/libmesh.c shim/resolve.c shim/intercept.c shim/snapshot.c shim/verdict.c \
              shim/ctlproto.c
DAEMON_LIB_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c)) shim/snapshot.c shim/ctlproto.c
DAEMON_LIBS := -lev -linih -lssl -lcrypto -lpthread -lm

SHIM_OBJ   := $(SHIM_SRC:%.c=$(BUILD)/shim-obj/%.o)
DAEMON_LIB_OBJ := $(DAEMON_LIB_SRC:%.c=$(BUILD)/obj/%.o)

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

TOOLS      := $(BUILD)/mksnap $(BUILD)/sendbench $(BUILD)/shimbench

.PHONY: all tools test unit integration demo install clean deps bench
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

deps:
	@scripts/deps.sh

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

integration: all tools
	@tests/integration/run.sh

# make test: unit tests (plain and AddressSanitizer), then every integration
# scenario twice: with the plain meshd, and with an AddressSanitizer meshd
# (MESHD=build-address/meshd), where any sanitizer report fails the scenario.
test: deps
	@$(MAKE) --no-print-directory all tools
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory SANITIZE=address $(BUILD_ASAN)/meshd unit
	@tests/integration/run.sh
	@MESHD=$(BUILD_ASAN)/meshd tests/integration/run.sh --asan

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench:
	@scripts/deps.sh --bench
	@$(MAKE) --no-print-directory all tools
	@scripts/bench.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/share/libmesh
	install -m 0755 $(BUILD)/meshd $(DESTDIR)$(PREFIX)/bin/meshd
	install -m 0644 $(BUILD)/libmesh.so $(DESTDIR)$(PREFIX)/lib/libmesh.so
	sed 's|@LIBDIR@|$(PREFIX)/lib|' scripts/mesh-run > $(DESTDIR)$(PREFIX)/bin/mesh-run
	chmod 0755 $(DESTDIR)$(PREFIX)/bin/mesh-run
	install -m 0755 scripts/mesh-certs $(DESTDIR)$(PREFIX)/bin/mesh-certs
	install -m 0644 conf/*.ini $(DESTDIR)$(PREFIX)/share/libmesh/

clean:
	rm -rf build build-address build-undefined

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
