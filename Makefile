# `make bench`: the performance benchmark (README "Performance"); under 6 minutes on a quiet 2-core machine, 12.5 on a loaded one.
PYTHON ?= .venv/bin/python

.PHONY: bench bench-smoke

bench:
	$(PYTHON) -m benchmarks $(BENCH_ARGS)

# Tiny networks, no job runs: every step, matmul, ingest and startup code path in seconds.
bench-smoke:
	$(PYTHON) -m benchmarks --smoke --out benchmarks/results/smoke.json $(BENCH_ARGS)
