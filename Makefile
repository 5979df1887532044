# Development targets. `make test-fast` is the everyday tier (no Ray, seconds to a few minutes);
# `make test` is the whole suite, as CI runs it; `make bench` the performance benchmark
# (docs/performance.md): under 6 minutes on a quiet 2-core machine, 12.5 on a loaded one.
PYTHON ?= .venv/bin/python

.PHONY: test test-fast lint bench bench-smoke constraints

test:
	$(PYTHON) -m pytest -q

test-fast:
	$(PYTHON) -m pytest -q -m "not slow"

lint:
	$(PYTHON) -m ruff check .

bench:
	$(PYTHON) -m benchmarks $(BENCH_ARGS)

# Tiny networks, no job runs: every step, matmul, ingest and startup code path in seconds.
bench-smoke:
	$(PYTHON) -m benchmarks --smoke --out benchmarks/results/smoke.json $(BENCH_ARGS)

# The exact versions cluster nodes install (cluster.yaml's setup_commands): run in a fresh venv made by
# the README's test command, after the suite passed there.
constraints:
	{ sed -n 1,3p configs/constraints.txt; $(PYTHON) -m pip freeze --exclude-editable | grep -v -i '^lstmgan'; } \
		> configs/constraints.new && mv configs/constraints.new configs/constraints.txt
