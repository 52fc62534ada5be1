# Two commands set up a fresh Debian 12 machine: `make demo` and `make test`.
# Every step is idempotent and quick when already done.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LSEPROF := $(BIN)/lseprof
# Rendered results land here (ignored by git but for its README).
REPORTS := reports
PY_SOURCES := profiler tests benchmarks scripts workloads

.PHONY: setup system venv data native coherence fixtures tracefs demo test test-unit test-vm test-native lint bench clean

setup: system venv data native coherence

system:
	bash scripts/install-system.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# The aarch64 machine's image (`lseprof vm make`: about a minute the first time, then
# a quick check; made again when its pins change; nothing on aarch64 hosts). Making it
# needs root (mmdebstrap), like `system`.
data: venv
	$(LSEPROF) data fetch
	$(LSEPROF) sysroot
	@if [ "$$(id -u)" = 0 ]; then $(LSEPROF) vm make; else sudo $(LSEPROF) vm make; fi

native: venv
	$(LSEPROF) build --target all --variant all

# The cache-coherence plugin for qemu-system-aarch64 (`lseprof vm run --coherence`)
# and its aarch64 test programs, in native/coherence/build; nothing on aarch64 hosts
# (no emulated machine there).
coherence:
	@if [ "$$(uname -m)" != aarch64 ]; then $(MAKE) --no-print-directory -C native/coherence; fi

# The scheduler tracepoints live in tracefs, which a fresh machine may not mount:
# as root it is one mount (without root, the --sched tests say what is missing).
tracefs:
	@if [ "$$(id -u)" = 0 ] && [ ! -d /sys/kernel/tracing/events/sched ]; then \
	  mount -t tracefs nodev /sys/kernel/tracing && echo "mounted tracefs at /sys/kernel/tracing"; \
	fi

# The main job: both scheduler variants at 88 threads under perf, then the same on the
# aarch64 outline-atomics build (emulated unless this is aarch64); each run's Markdown
# report and the dashboard of the run store land in reports/.
demo: setup tracefs
	mkdir -p $(REPORTS)
	$(LSEPROF) doctor
	$(LSEPROF) run --threads 88 --repeat 3 --markdown > $(REPORTS)/run-host.md
	cat $(REPORTS)/run-host.md
	$(LSEPROF) run --target aarch64 --threads 8 --repeat 1 --duration 3 --markdown \
	  > $(REPORTS)/run-aarch64.md
	cat $(REPORTS)/run-aarch64.md
	$(LSEPROF) dashboard --out $(REPORTS) --force > /dev/null
	@echo "dashboard: $(abspath $(REPORTS))/index.html"

# Real third-party ELF files (manylinux aarch64 wheels), pinned by sha256; and the
# speedscope viewer (pinned npm release) that the export tests open offline in Chromium.
SPEEDSCOPE := speedscope@1.25.0
fixtures: venv
	$(BIN)/python scripts/fetch_elf_fixtures.py
	test -f data/viewers/node_modules/speedscope/package.json || \
	  npm install --prefix data/viewers --no-audit --no-fund --silent $(SPEEDSCOPE)

test: setup fixtures tracefs
	$(BIN)/python -m pytest -q
	$(MAKE) lint

# Seconds, no perf runs: parsers, records, the golden outputs, the house rules.
test-unit: venv
	$(BIN)/python -m pytest -q tests/unit

# The aarch64 machine's tier alone (boots it about a dozen times: ~2.5 min here).
test-vm: data coherence
	$(BIN)/python -m pytest -q tests/e2e/test_vm.py tests/e2e/test_coherence.py

test-native: system
	$(BIN)/python -m pytest -q tests/e2e/test_native_unit.py

lint: venv
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/mypy
	bash scripts/lint-native.sh

bench: setup
	$(BIN)/python -m benchmarks.bench_encoder

clean:
	rm -rf $(VENV) native/target native/bin native/coherence/build
