# `make bench`: the performance benchmark (README "Performance"); 10 to 14 minutes on the shared 2-core machine.
PYTHON ?= .venv/bin/python

.PHONY: bench bench-smoke

bench:
	$(PYTHON) -m benchmarks $(BENCH_ARGS)

# Tiny networks, no job runs: every step, matmul, ingest and startup code path in seconds.
bench-smoke:
	$(PYTHON) -m benchmarks --smoke --out benchmarks/results/smoke.json $(BENCH_ARGS)
