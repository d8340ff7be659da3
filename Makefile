# Reflex: top-level build. libreflex (shared/) first, then one binary per service.
#   make            build everything          make test     deps, build, unit + integration suite
#   make run        start Reflex locally      make fuzz     libFuzzer harnesses (clang)
#   make SANITIZE=1 build with ASan+UBSan     make deps     install missing Debian packages
VERSION := 0.1.0
CC ?= cc
BUILD ?= build
ifeq ($(SANITIZE),1)
BUILD := build-san
endif
PKGS := libmicrohttpd libcurl libcjson yaml-0.1 libssh rdkafka openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
	-DREFLEX_VERSION=\"$(VERSION)\" -Ishared $(PKG_CFLAGS) -MMD -MP
LDLIBS := $(PKG_LIBS) -lpthread -lm
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(FUZZ),1)
CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -DREFLEX_FUZZ=1
LDFLAGS += -fsanitize=fuzzer,address,undefined
endif

# service directory -> binary name
BIN_classifier := reflex-classifier
BIN_action_handler := reflex-action-handler
BIN_poller := reflex-poller
BIN_agent := reflex-agent
BIN_cli := reflex
# The CLI reuses the classifier's rules engine for `reflex rules check|test`.
EXTRA_cli := $(BUILD)/libclassifier.a
CFLAGS_cli := -Iclassifier
# The classifier allocates and frees a few dozen small blocks per event (JSON trees, decisions); jemalloc does that
# in about a third less CPU than glibc's allocator (bench/classifier/README.md). Sanitizer builds keep ASan's.
ifeq ($(SANITIZE)$(FUZZ),)
LDLIBS_classifier := -ljemalloc
endif
SERVICES := $(foreach s,classifier action_handler poller agent cli,$(if $(wildcard $(s)/main.c),$(s)))

SHARED_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard shared/*.c))
LIBREFLEX := $(BUILD)/libreflex.a
BINS := $(foreach s,$(SERVICES),$(BUILD)/bin/$(BIN_$(s)))

.PHONY: all deps test unit integration run fuzz bench bench-bins clean format images stack stack-down test-stack
# The /map page's graph library comes from npm at build time into web/node_modules (not committed; the classifier
# serves it under /map/node_modules).
WEB_DEPS := web/node_modules/.package-lock.json
all: $(BINS) $(WEB_DEPS)
$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CFLAGS_$(firstword $(subst /, ,$<))) -c -o $@ $<

$(LIBREFLEX): $(SHARED_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Each service: everything but main.c goes into lib<service>.a so unit tests can link it.
define service_rules
$(1)_OBJ := $$(patsubst %.c,$(BUILD)/%.o,$$(filter-out $(1)/main.c,$$(wildcard $(1)/*.c)))
$(BUILD)/lib$(1).a: $$($(1)_OBJ)
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	ar rcs $$@ $$^
$(BUILD)/bin/$(BIN_$(1)): $(BUILD)/$(1)/main.o $(BUILD)/lib$(1).a $(EXTRA_$(1)) $(LIBREFLEX)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS_$(1)) $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rules,$(s))))

# Unit tests: tests/unit/<service>/<name>.c links lib<service>.a (none for shared) and cmocka.
UNIT_SRC := $(wildcard tests/unit/*/*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
unit_lib = $(if $(filter shared,$(1)),,$(BUILD)/lib$(1).a)
.SECONDEXPANSION:
$(BUILD)/tests/%: tests/unit/%.c $$(call unit_lib,$$(firstword $$(subst /, ,$$*))) $(LIBREFLEX)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -I$(firstword $(subst /, ,$*)) $(LDFLAGS) -o $@ $< $(filter %.a,$^) -lcmocka $(LDLIBS)

deps:
	@scripts/deps.sh

unit: $(BINS) $(UNIT_BINS)
	@scripts/run-unit.sh $(UNIT_BINS)

integration: $(BINS)
	REFLEX_BUILD=$(BUILD) python3 -m pytest -q -x tests/integration

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) integration

run: deps all
	scripts/run-local.sh

# Fuzzing: clang + libFuzzer; objects live in build-fuzz so they never mix with normal builds.
FUZZ_SRC := $(wildcard tests/fuzz/*.c)
FUZZ_SECONDS ?= 20
fuzz:
	@scripts/deps.sh
	$(MAKE) CC=clang BUILD=build-fuzz FUZZ=1 fuzz-bins
	@scripts/run-fuzz.sh build-fuzz/fuzz $(FUZZ_SECONDS)

fuzz-bins: $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
$(BUILD)/fuzz/%: tests/fuzz/%.c $$(foreach s,$$(SERVICES),$$(if $$(findstring $$(s)__,$$*),$(BUILD)/lib$$(s).a)) $(LIBREFLEX)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(filter %.a,$^) $(LDLIBS)

bench: all bench-bins
	@scripts/deps.sh
	bench/run.sh

bench-bins: $(BUILD)/bench/bare_mhd $(BUILD)/bench/match_bench
$(BUILD)/bench/bare_mhd: bench/classifier/bare_mhd.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)
$(BUILD)/bench/match_bench: bench/classifier/match_bench.c $(BUILD)/libclassifier.a $(LIBREFLEX)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iclassifier $(LDFLAGS) -o $@ $^ $(LDLIBS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Test tools (tests/tools/*.c): small programs that the integration tests and benchmarks drive (Kafka consumer,
# audit load generator). Built before the integration suite runs.
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))
.PHONY: tools
tools: $(TOOLS)
integration: $(TOOLS)
$(BUILD)/tools/%: tests/tools/%.c $(LIBREFLEX)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.a,$^) $(LDLIBS)

# Containers (deploy/README.md): service images, the bundle as a single-node swarm stack, and its end-to-end test.
images:
	REFLEX_VERSION=$(VERSION) scripts/docker-images.sh

stack:
	REFLEX_VERSION=$(VERSION) scripts/docker-stack.sh up

stack-down:
	scripts/docker-stack.sh down

test-stack:
	REFLEX_VERSION=$(VERSION) python3 -m pytest -q tests/stack
