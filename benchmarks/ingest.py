"""The input pipeline alone: Ray Data read -> transform/scale -> windows -> batches, no training.

Two rates in windows per second: ``prepare`` is the whole pipeline once
(``prepare_datasets``: read the Parquet shards, group by series, fit scalers,
cut and materialise the windows of all splits), paid once per run; ``iterate``
is one epoch of training batches drawn from the materialised windows the way a
worker draws them (``iter_batches`` with prefetching and the local shuffle),
paid every epoch. Both are read against the rate at which training consumes windows.
"""

from __future__ import annotations

import time
from typing import Any

from lstmgan_ray.config import Config
from lstmgan_ray.data.validate import inspect_dataset


def bench_ingest(data_path: str, *, input_dim: int = 3, batch: int = 128, shuffle_buffer: int = 1024) -> dict[str, Any]:
    """Time ``prepare_datasets`` and one epoch of ``iter_batches`` on ``data_path`` (Ray must be up)."""
    from lstmgan_ray.train.driver import prepare_windows  # imports Ray and TensorFlow: only when run

    cfg = Config.from_dict({"data": {"path": data_path, "input_dim": input_dim},
                            "train": {"batch_size": batch, "shuffle_buffer": shuffle_buffer}})
    t0 = time.perf_counter()
    info = inspect_dataset(cfg.data.model_dump())
    prepared = prepare_windows(cfg, info)
    prepare_s = time.perf_counter() - t0
    windows = sum(prepared.counts.values())

    iterate = iterate_rate(prepared.train, batch=batch, shuffle_buffer=shuffle_buffer)
    return {"data": data_path, "rows": info.num_rows, "features": len(info.features),
            "windows": windows, "train_windows": prepared.counts["train"],
            "prepare_s": prepare_s, "prepare_windows_per_s": windows / prepare_s, **iterate}


def iterate_rate(dataset, *, batch: int, shuffle_buffer: int = 1024) -> dict[str, float]:
    """One epoch of a worker's batches from ``dataset``: windows/s and the longest wait for one batch."""
    delivered, longest_wait = 0, 0.0
    t0 = time.perf_counter()
    batches = iter(dataset.iter_batches(batch_size=batch, batch_format="numpy", drop_last=True, prefetch_batches=2,
                                        local_shuffle_buffer_size=shuffle_buffer or None, local_shuffle_seed=0))
    while True:
        t1 = time.perf_counter()
        b = next(batches, None)
        if b is None:
            break
        longest_wait = max(longest_wait, time.perf_counter() - t1)
        delivered += len(b["x"])
    iterate_s = time.perf_counter() - t0
    return {"iterate_s": iterate_s, "iterate_windows_per_s": delivered / iterate_s,
            "iterate_longest_batch_wait_s": longest_wait}
