"""``make bench`` / ``python -m benchmarks``: how fast the project trains on this machine, and why.

Every figure is measured in the run that prints it; docs/performance.md quotes one such run.
"""
