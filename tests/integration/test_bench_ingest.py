"""The benchmark's ingest section on a real local Ray: batch iteration over prepared windows.
"""

import math

import pytest

from benchmarks.ingest import iterate_rate


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_ingest_iteration_rate(ray_local):
    import numpy as np

    windows = ray_local.data.from_items([{"x": np.zeros((3, 2), np.float32), "y": np.zeros(1, np.float32)}] * 100)
    rate = iterate_rate(windows, batch=16, shuffle_buffer=32)
    assert _positive(rate["iterate_windows_per_s"]) and rate["iterate_longest_batch_wait_s"] >= 0
    assert rate["iterate_windows_per_s"] * rate["iterate_s"] == pytest.approx(96)  # six whole batches
