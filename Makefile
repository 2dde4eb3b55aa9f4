# Thin wrapper: installs what is missing (Debian 12, as root; npm packages
# with `npm ci` from package-lock.json), then builds with meson/ninja.
# `make run` starts the gateway on its built-in defaults with the demo
# publishers (deploy/run-demo.sh);
# `make test` runs every test, then the same suite under ASan+UBSan, then a
# short libFuzzer smoke run of every harness (clang). `make fuzz` fuzzes for
# longer; `make test-valgrind` runs the integration tests with the server
# under valgrind's memcheck; `make test-workers` runs every integration test
# with --workers 3, `make test-tsan` the same with the server built with
# ThreadSanitizer; `make test-cluster` runs the NATS fault tests (a
# three-node cluster with killed and frozen servers) on both backends;
# `make soak` runs the hostile-load suite for long and
# writes its figures into docs/RELIABILITY.md. `make deb` builds the
# Debian package (lintian-checked) into build-deb/; `make test-deb` builds,
# installs, runs and purges it (.ci/run runs it after `make test`).

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
VG_BUILD   ?= build-vg
TSAN_BUILD ?= build-tsan
ARGS       ?=

# Debian packages the build and the tests need.
DEPS = gcc pkg-config meson ninja-build python3 liburing-dev libwebsockets-dev \
       libcriterion-dev libssl-dev libdeflate-dev zlib1g-dev util-linux clang \
       libclang-rt-14-dev ffmpeg systemtap-sdt-dev nodejs chromium python3-seccomp \
       nats-server python3-yaml libnats-dev

DEB_OUT ?= build-deb
# What `make deb` and `make test-deb` need beyond DEPS.
DEB_DEPS = debhelper dpkg-dev fakeroot lintian git curl systemd adduser

.PHONY: all deps npm build run deb test-deb test test-unit test-asan test-valgrind test-workers test-tsan test-cluster fuzz soak bench bench-core profile clean

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

# The demo page's video player and the browser tests' tools, exactly as
# locked. Debian's nodejs may come without npm (NodeSource's has it).
node_modules/.package-lock.json: package.json package-lock.json | deps
	@command -v npm >/dev/null || $(MAKE) --no-print-directory deps DEPS=npm
	npm ci --no-audit --no-fund

npm: node_modules/.package-lock.json

build: deps npm $(BUILD)/build.ninja
	ninja -C $(BUILD)

# ringcast on its defaults (the page at http://localhost:8080/), plus,
# while it runs, ffmpeg's test pattern on UDP 9000 (channel live; H.264 +
# AAC, or MPEG-1 with DEMO_CODEC=mpeg1) and game states on UDP 9001
# (channel game); Ctrl-C stops all of them.
run: build
	deploy/run-demo.sh $(BUILD) $(ARGS)

# ringcast_<version>_<arch>.deb in $(DEB_OUT), built by dpkg-buildpackage
# from a staged copy of the tree (deploy/debian/build-deb.sh), lintian clean.
deb: deps npm
	@$(MAKE) --no-print-directory deps DEPS="$(DEB_DEPS)"
	deploy/debian/build-deb.sh $(DEB_OUT)

# Builds the package, installs it with apt-get, runs the installed ringcast
# as its user with its config, and purges it (tests/deb/test_deb.sh).
test-deb: deps npm
	@$(MAKE) --no-print-directory deps DEPS="$(DEB_DEPS)"
	tests/deb/test_deb.sh $(DEB_OUT)

$(ASAN_BUILD)/build.ninja: | deps
	meson setup $(ASAN_BUILD) --werror -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

# Sanitizer reports are failures: UBSan stops at the first one, LSan checks leaks.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# The libFuzzer harnesses need clang. Only they are built in this dir
# (ninja target fuzz-harnesses), without a project-wide --werror: the gcc
# builds above are the -Werror gate for the project, and a clang-only warning
# elsewhere must not stop the fuzzers (the harnesses themselves are -Werror).
$(FUZZ_BUILD)/build.ninja: | deps
	CC=clang meson setup $(FUZZ_BUILD) -Dtests=true -Dbuildtype=debugoptimized

# Each harness's smoke run in make test (make fuzz runs them for long).
FUZZ_SMOKE_SECONDS ?= 3
# tests/integration/test_memory.c floods for RINGCAST_FLOOD_SECONDS (60 by
# default, for a run by hand); make test floods for 15 s, the sanitized run
# shorter, since what it checks there is ASan's, not the bound's. These,
# like the attack times, are what keeps make test under 15 minutes on two
# cores with every suite in it. The
# hostile-load suite runs each attack for ATTACK_SECONDS and its mixed pool
# for CHAOS_SECONDS (make soak: a minute each, ten minutes of chaos).
FLOOD_SECONDS ?= 15
ASAN_FLOOD_SECONDS ?= 12
ATTACK_SECONDS ?= 2
CHAOS_SECONDS ?= 3
TEST_ENV = RINGCAST_ATTACK_SECONDS=$(ATTACK_SECONDS) RINGCAST_CHAOS_SECONDS=$(CHAOS_SECONDS)
# Every integration test runs on both backends in the gcc build; under
# ASan+UBSan on io_uring, and on epoll the subset of suite
# integration-epoll-asan (tests/integration/meson.build), so the suite stays
# under 15 minutes on two cores.
ASAN_SUITES = --suite unit --suite integration --suite integration-epoll-asan --suite web

test: build $(ASAN_BUILD)/build.ninja $(FUZZ_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ninja -C $(FUZZ_BUILD) fuzz-harnesses
	@status=0; \
	$(TEST_ENV) RINGCAST_FLOOD_SECONDS=$(FLOOD_SECONDS) meson test -C $(BUILD) --print-errorlogs --num-processes 2 || status=1; \
	$(TEST_ENV) $(SAN_ENV) RINGCAST_FLOOD_SECONDS=$(ASAN_FLOOD_SECONDS) meson test -C $(ASAN_BUILD) $(ASAN_SUITES) --print-errorlogs --num-processes 2 --timeout-multiplier 3 || status=1; \
	FUZZ_SMOKE_SECONDS=$(FUZZ_SMOKE_SECONDS) meson test -C $(FUZZ_BUILD) --suite fuzz --no-rebuild --print-errorlogs --num-processes 2 || status=1; \
	python3 tests/summary.py $(BUILD)/meson-logs/testlog.json $(ASAN_BUILD)/meson-logs/testlog.json $(FUZZ_BUILD)/meson-logs/testlog.json; \
	exit $$status

# make fuzz [FUZZ_SECONDS=600] [FUZZ_JOBS=2]: every harness for FUZZ_SECONDS,
# FUZZ_JOBS at a time. The corpus grows in $(FUZZ_OUT)/corpus/NAME (kept
# between runs, never in git); reproducers land in $(FUZZ_OUT)/crashes/NAME.
FUZZ_SECONDS ?= 600
FUZZ_JOBS    ?= 2
FUZZ_OUT     ?= $(FUZZ_BUILD)/fuzz-out
FUZZ_NAMES    = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) fuzz-harnesses
	@echo "fuzzing $(FUZZ_NAMES) for $(FUZZ_SECONDS) s each, $(FUZZ_JOBS) at a time; logs in $(FUZZ_OUT)/logs"
	@status=0; rm -f $(FUZZ_OUT)/logs/*.summary; \
	printf '%s\n' $(FUZZ_NAMES) | xargs -P $(FUZZ_JOBS) -I{} \
		tests/fuzz/run.sh -t $(FUZZ_SECONDS) -o $(abspath $(FUZZ_OUT)) \
		$(FUZZ_BUILD)/tests/fuzz/fuzz_{} tests/fuzz/corpus/{} >/dev/null || status=1; \
	echo "---- fuzz results ($(FUZZ_SECONDS) s each) ----"; \
	for n in $(FUZZ_NAMES); do \
		cat $(FUZZ_OUT)/logs/$$n.summary 2>/dev/null || { echo "fuzz_$$n: no result"; status=1; }; \
	done; \
	echo "corpus: $(FUZZ_OUT)/corpus/NAME, reproducers: $(FUZZ_OUT)/crashes/NAME"; \
	exit $$status

# make test-valgrind: the integration tests with every server they start run
# through $(VALGRIND) (RINGCAST_WRAPPER, see tests/integration/harness.h).
# Memcheck's exit code 99 on any error or definite leak fails the tests'
# "exit 0 after SIGTERM" checks. Deadlines are scaled for valgrind's speed.
# The slab the kernel receives into is anonymous mmap, which memcheck counts
# as defined, so io_uring's writes cause no false "uninitialised" reports and
# no suppression file is needed (it also means memcheck cannot check what
# the kernel reads or writes there on io_uring's behalf).
VALGRIND ?= valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
RINGCAST_TIME_SCALE ?= 10

$(VG_BUILD)/build.ninja: | deps
	meson setup $(VG_BUILD) --werror -Dtests=true -Dbuildtype=debug

test-valgrind: deps $(VG_BUILD)/build.ninja
	@$(MAKE) --no-print-directory deps DEPS=valgrind
	ninja -C $(VG_BUILD)
	@status=0; \
	RINGCAST_WRAPPER="$(VALGRIND)" RINGCAST_TIME_SCALE=$(RINGCAST_TIME_SCALE) RINGCAST_FLOOD_SECONDS=10 \
		meson test -C $(VG_BUILD) --suite integration --no-rebuild --print-errorlogs \
		--timeout-multiplier $(RINGCAST_TIME_SCALE) || status=1; \
	python3 tests/summary.py $(VG_BUILD)/meson-logs/testlog.json; \
	exit $$status

# make test-workers: every integration test with the server on three
# workers (RINGCAST_WORKERS=3: more workers than this machine's cores, so
# hand-offs happen under preemption); make test runs a subset of them.
WORKER_SUITES = --suite integration-workers --suite integration-workers-full

test-workers: build
	@status=0; \
	$(TEST_ENV) RINGCAST_FLOOD_SECONDS=$(FLOOD_SECONDS) meson test -C $(BUILD) --setup workers \
		$(WORKER_SUITES) --print-errorlogs --num-processes 2 || status=1; \
	python3 tests/summary.py $(BUILD)/meson-logs/testlog-workers.json; \
	exit $$status

# make test-tsan: the multi-worker integration tests (every one, and
# it_workers on both backends) with the server built with ThreadSanitizer.
# The tests themselves are the plain build's: Criterion's runner does not
# start under ThreadSanitizer, so tests/tsan-server.sh (as RINGCAST_WRAPPER)
# runs the TSan server in place of the plain one. A race report makes the
# server exit 66, which fails the test that stops it; tests/tsan.supp says
# what is suppressed and why. Deadlines are scaled for TSan's speed.
$(TSAN_BUILD)/build.ninja: | deps
	meson setup $(TSAN_BUILD) --werror -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug

TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$(abspath tests/tsan.supp) \
	RINGCAST_TSAN_BIN=$(abspath $(TSAN_BUILD))/gateway/ringcast RINGCAST_WRAPPER=$(abspath tests/tsan-server.sh) \
	RINGCAST_TIME_SCALE=3

test-tsan: build $(TSAN_BUILD)/build.ninja
	ninja -C $(TSAN_BUILD) gateway/ringcast
	@status=0; \
	$(TEST_ENV) $(TSAN_ENV) RINGCAST_FLOOD_SECONDS=$(ASAN_FLOOD_SECONDS) meson test -C $(BUILD) \
		--setup workers $(WORKER_SUITES) --print-errorlogs --num-processes 2 \
		--timeout-multiplier 3 || status=1; \
	python3 tests/summary.py $(BUILD)/meson-logs/testlog-workers.json; \
	exit $$status

# make test-cluster: NATS faults under three routed nats-servers and three
# ringcast nodes (tests/integration/test_cluster_faults.c: fan-out, a
# SIGKILLed server, a SIGSTOPped one, restarts without leaked
# subscriptions) on io_uring and epoll, about 15 s each; plain meson test
# leaves their suite out (meson.build), .ci/run calls this after make test.
test-cluster: build
	@status=0; \
	meson test -C $(BUILD) --suite cluster --print-errorlogs || status=1; \
	python3 tests/summary.py $(BUILD)/meson-logs/testlog.json; \
	exit $$status

# make soak [SOAK_ATTACK_SECONDS=60] [SOAK_CHAOS_SECONDS=600]: the hostile-load
# suite (tests/integration/test_hostile.c: each attack of issue 13 against a
# server with an 8 MB cache while a healthy subscriber, /healthz and the RSS
# are watched) for SOAK_ATTACK_SECONDS per attack and SOAK_CHAOS_SECONDS of
# the mixed client pool, about 20 minutes with the defaults; tests/soak.py
# writes the figures into docs/RELIABILITY.md and the log into
# $(BUILD)/soak/hostile.log; SOAK_NOTE, when set, is printed above the table.
# make test runs the same suite for a few seconds per attack.
SOAK_ATTACK_SECONDS ?= 60
SOAK_CHAOS_SECONDS  ?= 600
SOAK_NOTE           ?=

soak: build
	python3 tests/soak.py --build $(BUILD) --attack-seconds $(SOAK_ATTACK_SECONDS) \
		--chaos-seconds $(SOAK_CHAOS_SECONDS) --note "$(SOAK_NOTE)"

# make bench: every scenario of perf/RESULTS.md, every peer side by side
# (perf/bench-matrix.sh; about an hour). Set UWS_CPP_BIN to include the
# hand-built C++ uWebSockets relay (perf/peers/README.md). The tables and
# charts land in $(BUILD)/bench-matrix. make bench-core: ringcast alone.
BENCH_ARGS ?=

bench: build
	@$(MAKE) --no-print-directory deps DEPS="jq gnuplot-nox nginx libnginx-mod-nchan"
	perf/bench-matrix.sh -b $(BUILD) $(BENCH_ARGS)

bench-core: build
	perf/bench-core.sh -b $(BUILD)

# make profile [SCENARIO=fanout|fanout-1k|fanout-10k|channels|latency]: the
# gateway built with frame pointers, one scenario under `perf record -g`; the
# flame graph (SVG), folded stacks and top functions land in
# $(PROF_BUILD)/profile/SCENARIO. See docs/PROFILING.md.
PROF_BUILD ?= build-prof
SCENARIO   ?= fanout

$(PROF_BUILD)/build.ninja: | deps
	meson setup $(PROF_BUILD) --werror -Dtests=false -Dbuildtype=debugoptimized \
		-Dc_args='-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer'

profile: deps $(PROF_BUILD)/build.ninja
	@$(MAKE) --no-print-directory deps DEPS="linux-perf python3"
	ninja -C $(PROF_BUILD)
	perf/profile/profile.sh -b $(PROF_BUILD) $(SCENARIO)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(VG_BUILD) $(PROF_BUILD) $(TSAN_BUILD)
