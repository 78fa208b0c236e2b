# SPDX-License-Identifier: Apache-2.0
# One non-recursive Makefile. Sources are found by directory, so a new module needs no edit
# here. Objects go to build/<variant>[-san]/ with -MMD -MP; the flags are saved beside them
# and a change of flags rebuilds everything.
#
#   make                      release build (-O2 -g, hardened) -> ./dragonfly, fully static
#   make VARIANT=debug        -O0 -g3, DF_DEBUG invariant checks
#   make SANITIZE=address,undefined   ASan+UBSan build (dynamic: ASan cannot be static)
#   make check                unit + integration + fuzz replay + source checks
#   make fuzz                 libFuzzer targets with clang
#   make install PREFIX=/usr/local DESTDIR=   binary, man pages, example configs, units,
#                             bash and zsh completion (scripts/build-deb.sh packages the same)

VERSION  := 0.1.0
VARIANT  ?= release
SANITIZE ?=
CC       ?= cc
FUZZ_CC  ?= clang

ifeq ($(SANITIZE),)
BUILD := build/$(VARIANT)
else
BUILD := build/$(VARIANT)-san
endif
TP := build/third_party

# -Wconversion with -Wno-sign-conversion: narrowing is an error, but size_t/ssize_t/int
# mixing that the libraries' own APIs force (libevent, nghttp2) would otherwise bury real
# findings under casts.
WARN := -Wall -Wextra -Wpedantic -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wmissing-declarations -Wold-style-definition -Wpointer-arith \
	-Wcast-qual -Wwrite-strings -Wundef -Wvla -Wimplicit-fallthrough -Wconversion \
	-Wno-sign-conversion -Wnull-dereference -Wdouble-promotion -Werror

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Iinclude -I$(TP)/include $(WARN) -pthread
ifeq ($(VARIANT),debug)
CFLAGS_OPT := -O0 -g3 -DDF_DEBUG=1
else
CFLAGS_OPT := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fstack-clash-protection
endif
ifneq ($(SANITIZE),)
CFLAGS_OPT += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDSAN      := -fsanitize=$(SANITIZE)
LDSTATIC   :=
else
LDSAN      :=
LDSTATIC   := -static
endif
CFLAGS_ALL := $(CFLAGS_BASE) $(CFLAGS_OPT) $(CFLAGS)

DEP_LIBS := $(TP)/libcjson.a -levent_pthreads -levent -lnghttp2 -lmbedtls -lmbedx509 \
	-lmbedcrypto -lsqlite3 -lxxhash -lm -lpthread -ldl
LDFLAGS_ALL := $(LDSTATIC) $(LDSAN) -Wl,-z,relro,-z,now $(LDFLAGS)
CHECK_LIBS := -lcheck -lsubunit -lrt -lm

SRC_DIRS := src/common src/net src/rpc src/store src/proto src/peer src/scheduler src/mgr src/cli
LIB_SRCS := $(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libdf.a

ifeq ($(SANITIZE),)
BIN := dragonfly
else
BIN := $(BUILD)/dragonfly
endif

# The swarm simulator, shared by the scheduler's unit test and the sched_sim tool.
SIM_SRCS := $(wildcard test/sim/*.c)
SIM_OBJS := $(SIM_SRCS:%.c=$(BUILD)/%.o)

UNIT_SRCS := $(wildcard test/unit/*/test_*.c)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/test/unit/main.o $(SIM_OBJS)
UNIT_BIN  := $(BUILD)/test/unit-tests

IT_SRCS := $(wildcard test/integration/it_*.c) $(wildcard test/integration/harness/*.c) \
	test/integration/main.c
IT_OBJS := $(IT_SRCS:%.c=$(BUILD)/%.o)
IT_BIN  := $(BUILD)/test/it-tests

TOOL_SRCS := $(wildcard test/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:test/tools/%.c=$(BUILD)/test/tools/%)

FUZZ_SRCS := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRCS:test/fuzz/%.c=$(BUILD)/test/fuzz/%-replay)
FUZZ_BINS := $(FUZZ_SRCS:test/fuzz/%.c=build/fuzz/%)

# V=1 shows full command lines.
ifeq ($(V),1)
Q_CC :=
else
Q_CC = @echo '  CC  $<';
endif

GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

.SECONDARY:
.PHONY: FORCE all check check-unit check-it check-fuzz check-src check-pkg tools fuzz format \
	format-check clean bench-rpc man install uninstall check-console
all: $(BIN)

$(TP)/libcjson.a: third_party/cjson/build.sh
	CC=$(CC) sh third_party/cjson/build.sh $(TP)

# Rebuild everything when the flags change.
$(BUILD)/flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL)' | cmp -s - $@ || \
		echo '$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL)' > $@
FORCE:

# The build id header changes only when the commit does.
$(BUILD)/gen/df_build.h: FORCE
	@mkdir -p $(@D)
	@printf '#define DF_VERSION "%s"\n#define DF_GIT_COMMIT "%s"\n' '$(VERSION)' \
		'$(GIT_COMMIT)' | cmp -s - $@ || printf '#define DF_VERSION "%s"\n#define DF_GIT_COMMIT "%s"\n' \
		'$(VERSION)' '$(GIT_COMMIT)' > $@

$(BUILD)/src/cli/cli_version.o: $(BUILD)/gen/df_build.h
$(BUILD)/src/cli/cli_version.o: CFLAGS_ALL += -I$(BUILD)/gen
$(BUILD)/src/common/df_metrics_proc.o: $(BUILD)/gen/df_build.h
$(BUILD)/src/common/df_metrics_proc.o: CFLAGS_ALL += -I$(BUILD)/gen
$(BUILD)/src/common/df_version.o: $(BUILD)/gen/df_build.h
$(BUILD)/src/common/df_version.o: CFLAGS_ALL += -I$(BUILD)/gen

# The console's files (console/) as C arrays in a generated header, gzip done here
# (scripts/gen-console.py); the binary serves them with no file on disk.
CONSOLE_FILES := $(shell find console -type f 2>/dev/null)
$(BUILD)/gen/mgr_console_assets.h: $(CONSOLE_FILES) scripts/gen-console.py
	@mkdir -p $(@D)
	python3 scripts/gen-console.py console $@
$(BUILD)/src/mgr/mgr_console.o: $(BUILD)/gen/mgr_console_assets.h
$(BUILD)/src/mgr/mgr_console.o: CFLAGS_ALL += -I$(BUILD)/gen

$(BUILD)/%.o: %.c $(BUILD)/flags $(TP)/libcjson.a
	@mkdir -p $(@D)
	$(Q_CC)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(LIB)
	$(CC) -o $@ $(BUILD)/src/main.o $(LIB) $(LDFLAGS_ALL) $(DEP_LIBS)

# Unit tests: one suite per test file; the suite list is generated from the file names
# (test/unit/common/test_df_json.c defines Suite *test_df_json_suite(void)).
$(BUILD)/gen/suites.h: $(UNIT_SRCS) Makefile
	@mkdir -p $(@D)
	@for f in $(notdir $(basename $(UNIT_SRCS))); do echo "DF_SUITE($${f}_suite)"; done > $@
$(BUILD)/test/unit/main.o: $(BUILD)/gen/suites.h
$(BUILD)/test/unit/main.o: CFLAGS_ALL += -I$(BUILD)/gen

$(UNIT_BIN): $(UNIT_OBJS) $(LIB)
	$(CC) -o $@ $(UNIT_OBJS) $(LIB) $(LDSAN) $(CHECK_LIBS) $(DEP_LIBS)

IT_SUITE_SRCS := $(wildcard test/integration/it_*.c)
$(BUILD)/gen/it_suites.h: $(IT_SUITE_SRCS) Makefile
	@mkdir -p $(@D)
	@for f in $(notdir $(basename $(IT_SUITE_SRCS))); do echo "DF_SUITE($${f}_suite)"; done > $@
$(BUILD)/test/integration/main.o: $(BUILD)/gen/it_suites.h
$(BUILD)/test/integration/main.o: CFLAGS_ALL += -I$(BUILD)/gen

$(IT_BIN): $(IT_OBJS) $(LIB)
	$(CC) -o $@ $(IT_OBJS) $(LIB) $(LDSAN) $(CHECK_LIBS) $(DEP_LIBS)

$(BUILD)/test/tools/sched_sim: $(SIM_OBJS)
$(BUILD)/test/tools/%: $(BUILD)/test/tools/%.o $(LIB)
	$(CC) -o $@ $(filter %.o,$^) $(LIB) $(LDSAN) $(DEP_LIBS)

tools: $(TOOL_BINS)

$(BUILD)/test/fuzz/%-replay: $(BUILD)/test/fuzz/%.o $(BUILD)/test/fuzz/replay.o $(LIB)
	$(CC) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(LDSAN) $(DEP_LIBS)

check-unit: $(UNIT_BIN)
	$(UNIT_BIN)

# Integration suites run IT_JOBS at a time: they mostly wait on the processes they start, and
# every test has addresses, ports and a temp dir of its own (test/integration/main.c).
IT_JOBS ?= 2
check-it: $(IT_BIN) $(BIN) $(TOOL_BINS)
	$(if $(SANITIZE),DF_SANITIZE=1) DF_BIN=$(abspath $(BIN)) DF_TOOLS=$(abspath $(BUILD)/test/tools) \
		$(IT_BIN) -j $(IT_JOBS)

check-fuzz: $(FUZZ_REPLAY)
	@for t in $(FUZZ_REPLAY); do n=$$(basename $$t -replay | sed 's/^fuzz_//'); \
		$$t test/fuzz/corpus/$$n || exit 1; done

check-src:
	sh scripts/check-layers.sh
	sh scripts/check-reuse.sh
	sh scripts/check-proto.sh
	sh scripts/check-symbols.sh $(LIB)

# The install tree, the .deb and the systemd units (scripts/test-pkg.sh); the OCI image
# (scripts/test-image.sh); the example deployments against the binary (check-deploy.py).
check-pkg: $(BIN) man
	bash scripts/test-pkg.sh
	bash scripts/test-image.sh
	python3 scripts/check-deploy.py --bin ./$(BIN)
	python3 scripts/check-deploy.py --bin ./$(BIN) --self-test

check: check-src check-unit check-fuzz check-it

# The console in a real browser: playwright-core (test/browser/node_modules, from
# scripts/install-deps.sh) driving Debian's chromium against the built binary.
check-console: $(BIN)
	@test -d test/browser/node_modules/playwright-core || \
		{ echo "check-console: no playwright-core: run scripts/install-deps.sh"; exit 1; }
	DF_BIN=$(abspath $(BIN)) timeout 900 node test/browser/console.mjs

# libFuzzer builds: clang, our sources compiled again with the fuzzer instrumentation and
# the DF_DEBUG invariant checks, each source once into build/fuzz-obj/ (every target uses
# the same flags) and linked into each target that needs it. A target of a role's core lists
# the role sources it needs.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Iinclude -I$(TP)/include -I$(BUILD)/gen -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DDF_FUZZ=1 -DDF_DEBUG=1
FUZZ_OBJ := build/fuzz-obj
fuzz_objs = $(patsubst %.c,$(FUZZ_OBJ)/%.o,$(1))
FUZZ_LIB_SRCS := $(foreach d,src/common src/net src/rpc src/store src/proto,$(wildcard $(d)/*.c))
FUZZ_SCHED_SRCS := src/scheduler/sched_state.c src/scheduler/sched_plan.c src/scheduler/sched_check.c \
	src/scheduler/sched_eval.c
build/fuzz/fuzz_sched_state: FUZZ_EXTRA_SRCS := $(FUZZ_SCHED_SRCS)
build/fuzz/fuzz_sched_state: $(call fuzz_objs,$(FUZZ_SCHED_SRCS))
# Targets of the peer's decoders link the whole role; only the decoders run.
FUZZ_PEER_SRCS := $(wildcard src/peer/*.c)
build/fuzz/fuzz_upload_path build/fuzz/fuzz_peer_rpc: FUZZ_EXTRA_SRCS := $(FUZZ_PEER_SRCS)
build/fuzz/fuzz_upload_path build/fuzz/fuzz_peer_rpc: $(call fuzz_objs,$(FUZZ_PEER_SRCS))
# The manager's request readers (JWT, query, pagination) and registry readers (manifests,
# challenges) link the role.
FUZZ_MGR_SRCS := $(wildcard src/mgr/*.c)
build/fuzz/fuzz_mgr_auth build/fuzz/fuzz_mgr_image: FUZZ_EXTRA_SRCS := $(FUZZ_MGR_SRCS)
build/fuzz/fuzz_mgr_auth build/fuzz/fuzz_mgr_image: $(call fuzz_objs,$(FUZZ_MGR_SRCS))
$(FUZZ_OBJ)/src/mgr/mgr_console.o: $(BUILD)/gen/mgr_console_assets.h
# The RPC server targets share an in-memory HTTP/2 transport (test/fuzz/fz_h2.c).
build/fuzz/fuzz_rpc_server_h2: FUZZ_EXTRA_SRCS := test/fuzz/fz_h2.c
build/fuzz/fuzz_rpc_server_h2: $(call fuzz_objs,test/fuzz/fz_h2.c)
$(BUILD)/test/fuzz/fuzz_rpc_server_h2-replay: $(BUILD)/test/fuzz/fz_h2.o
build/fuzz/fuzz_sched_rpc: FUZZ_EXTRA_SRCS := test/fuzz/fz_h2.c $(wildcard src/scheduler/*.c)
build/fuzz/fuzz_sched_rpc: $(call fuzz_objs,test/fuzz/fz_h2.c $(wildcard src/scheduler/*.c))
$(BUILD)/test/fuzz/fuzz_sched_rpc-replay: $(BUILD)/test/fuzz/fz_h2.o
$(FUZZ_OBJ)/%.o: %.c $(TP)/libcjson.a $(BUILD)/gen/df_build.h
	@mkdir -p $(@D)
	$(Q_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
build/fuzz/%: $(FUZZ_OBJ)/test/fuzz/%.o $(call fuzz_objs,$(FUZZ_LIB_SRCS)) $(TP)/libcjson.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(call fuzz_objs,$(FUZZ_EXTRA_SRCS) $(FUZZ_LIB_SRCS)) \
		$(DEP_LIBS)
fuzz: $(FUZZ_BINS)

format:
	clang-format -i $$(git ls-files -co --exclude-standard '*.c' '*.h')
format-check:
	clang-format --dry-run -Werror $$(git ls-files -co --exclude-standard '*.c' '*.h')

bench-rpc: $(BIN) $(TOOL_BINS)
	sh scripts/bench-rpc.sh

# Install. The units and configs name /usr/local/bin/dragonfly and /etc/dragonfly in conf/;
# they are installed with BINDIR and SYSCONFDIR instead. Configs that exist are kept.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
SYSCONFDIR  ?= /etc
MANDIR      ?= $(PREFIX)/share/man
UNITDIR     ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
UNITS       := $(wildcard conf/systemd/*.service)
INSTALL_SED := sed -e 's\#/usr/local/bin/dragonfly\#$(BINDIR)/dragonfly\#g' \
	-e 's\#/etc/dragonfly\#$(SYSCONFDIR)/dragonfly\#g'
CONFS       := $(wildcard conf/*.json)

# One page per subcommand, from the built binary's --help (scripts/gen-man.sh).
build/man/stamp: $(BIN) scripts/gen-man.sh
	@rm -rf build/man
	sh scripts/gen-man.sh ./$(BIN) $(VERSION) build/man
	@touch $@
man: build/man/stamp

install: $(BIN) build/man/stamp
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(SYSCONFDIR)/dragonfly
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/dragonfly/tls
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/dragonfly
	install -m 0644 build/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	for f in $(CONFS); do t=$(DESTDIR)$(SYSCONFDIR)/dragonfly/$$(basename $$f); \
		if [ -e $$t ]; then echo "install: kept $$t"; else $(INSTALL_SED) $$f > $$t && \
		chmod 0644 $$t || exit 1; fi; done
	for u in $(UNITS); do t=$(DESTDIR)$(UNITDIR)/$$(basename $$u); \
		$(INSTALL_SED) $$u > $$t && chmod 0644 $$t || exit 1; done
	install -m 0644 conf/completion/dragonfly.bash $(DESTDIR)$(BASHCOMPDIR)/dragonfly
	install -m 0644 conf/completion/_dragonfly $(DESTDIR)$(ZSHCOMPDIR)/_dragonfly
	install -D -m 0644 conf/logrotate/dragonfly $(DESTDIR)$(SYSCONFDIR)/logrotate.d/dragonfly

# Leaves the configs and /etc/dragonfly/tls.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dragonfly $(DESTDIR)$(MANDIR)/man1/dragonfly.1 \
		$(DESTDIR)$(MANDIR)/man1/dragonfly-*.1 $(DESTDIR)$(BASHCOMPDIR)/dragonfly \
		$(DESTDIR)$(ZSHCOMPDIR)/_dragonfly $(DESTDIR)$(SYSCONFDIR)/logrotate.d/dragonfly \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(UNITS)))

clean:
	rm -rf build dragonfly

-include $(shell find $(BUILD) $(FUZZ_OBJ) -name '*.d' 2>/dev/null)
