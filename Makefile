# Thin wrapper: installs what is missing (Debian 12, as root), then builds
# with meson/ninja. `make run` starts the gateway on its built-in defaults;
# `make test` runs every test, then the same suite under ASan+UBSan.

BUILD      ?= build
ASAN_BUILD ?= build-asan
ARGS       ?=

# Debian packages the build and the tests need.
DEPS = gcc pkg-config meson ninja-build python3 liburing-dev libwebsockets-dev \
       libcriterion-dev libssl-dev util-linux

.PHONY: all deps build run test test-unit test-asan bench clean

all: build

deps:
	@missing=""; \
	for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install:$$missing" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) --werror

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/gateway/ringcast $(ARGS)

$(ASAN_BUILD)/build.ninja: | deps
	meson setup $(ASAN_BUILD) --werror -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

# Sanitizer reports are failures: UBSan stops at the first one, LSan checks leaks.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

test: build $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	@status=0; \
	meson test -C $(BUILD) --print-errorlogs --num-processes 2 || status=1; \
	$(SAN_ENV) meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 --timeout-multiplier 3 || status=1; \
	python3 tests/summary.py $(BUILD)/meson-logs/testlog.json $(ASAN_BUILD)/meson-logs/testlog.json; \
	exit $$status

bench: build
	perf/bench-core.sh -b $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
