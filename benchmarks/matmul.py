"""The machine's float32 matrix-product rate, measured in the same run as the training steps:
the yardstick every achieved GFLOP/s figure is read against."""

from __future__ import annotations

import time

import numpy as np


def best_rate(fn, flops: float, repeats: int) -> float:
    """GFLOP/s of ``fn`` (doing ``flops``), best of ``repeats`` after one warm-up call."""
    fn()  # thread pools, first-touch pages, kernel choice
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return flops / best / 1e9


def matmul_gflops(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """An ``n x n`` float32 product in NumPy (its BLAS) and in TensorFlow (oneDNN), all cores."""
    import tensorflow as tf  # where used: see benchmarks.run

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    flops = 2.0 * n ** 3
    numpy_rate = best_rate(lambda: a @ b, flops, repeats)
    tf_rate = best_rate(lambda: tf.linalg.matmul(ta, tb).numpy(), flops, repeats)  # .numpy() waits
    return {"n": n, "numpy_gflops": numpy_rate, "tensorflow_gflops": tf_rate}
