"""The global shuffle of the training windows: a new order every epoch, the same batches on 1 or N workers.

The pipeline hands training its windows by series, then time. A shard cut from that order,
or a local shuffle buffer over it, gives batches of one series in one era. Instead, every
global batch is a slice of one permutation of all training windows, drawn from
``(seed, epoch)`` alone:

    epoch e:  order = permutation(n) seeded by (seed, e)   -> steps x global_batch indices
              worker r of w takes columns [r * b, (r + 1) * b) of every row (b = batch / w)

so the global batches depend on neither the worker count nor timing: 1 and N workers
train on the same batches, and a run resumed ``k`` steps into an epoch (a preemption
checkpoint, even on another worker count after an elastic resize) skips exactly the
``k`` batches the unbroken run trained on.

Why not Ray's own shuffles: ``Dataset.random_shuffle(seed=...)`` with an integer seed
gives the same order every time it runs, and its per-execution reseeding
(``RandomSeedConfig(reseed_after_execution=True)``) counts the executions of the dataset's
own context copy, which starts again from the driver's count when Ray Train restarts its
workers after a failure, or when a run is resumed from a checkpoint: the resumed epoch
would see another order. ``streaming_split`` hands each worker a fixed part of the data
(on the bundled data, one series each), so a per-worker local shuffle never mixes two
shards into one batch, and the parts change with the worker count. Each worker instead
reads the whole training split every epoch (materialised in the object store) and keeps
only its share: on the bundled data (7,036 training windows) about 15 ms an epoch per
worker, less than the 1,024-window local shuffle buffer it replaces, against ~50 s of
training. A split too large for every worker to read each epoch can turn
``train.global_shuffle`` off.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from lstmgan_ray.errors import DataError

SHUFFLE_STREAM = 0x5EED_0F_E70C  # keeps these draws apart from any other use of the run's seed


def epoch_order(windows: int, global_batch: int, seed: int, epoch: int) -> np.ndarray:
    """``[steps, global_batch]`` window indices: epoch ``epoch``'s global batches, in step order.

    The windows left over after the last whole batch (``windows % global_batch``) sit
    this epoch out; a different few each epoch.
    """
    steps = windows // global_batch
    rng = np.random.default_rng([SHUFFLE_STREAM, seed % (1 << 64), epoch])
    return rng.permutation(windows)[: steps * global_batch].reshape(steps, global_batch)


def worker_share(order: np.ndarray, world: int, rank: int) -> np.ndarray:
    """``[steps, global_batch / world]``: the part of every global batch that worker ``rank`` trains on."""
    local = order.shape[1] // world
    return order[:, rank * local:(rank + 1) * local]


def gather_rows(batches: Iterable[dict[str, Any]], wanted: np.ndarray, windows: int,
                columns: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The rows ``wanted`` (indices into the stream of ``batches``), in the order of ``wanted``;
    of ``columns``, or of every column the stream has.

    One pass over the stream keeping only the wanted rows, so a worker holds its share
    of the split, not the whole. Refuses a stream whose length is not ``windows``: a
    worker that saw other windows than the driver counted would train on other batches.
    """
    slot = np.full(windows, -1, dtype=np.int64)
    slot[wanted] = np.arange(len(wanted))
    out: dict[str, np.ndarray] = {}
    seen = 0
    for batch in batches:
        size = len(next(iter(batch.values())))
        if seen + size > windows:
            raise DataError(f"the training split holds more than the {windows} windows counted on the driver")
        where = slot[seen:seen + size]
        keep = where >= 0
        seen += size
        if not keep.any():
            continue
        for col in columns or batch:
            values = np.asarray(batch[col])
            if col not in out:
                out[col] = np.empty((len(wanted),) + values.shape[1:], dtype=values.dtype)
            out[col][where[keep]] = values[keep]
    if seen != windows:
        raise DataError(f"the training split holds {seen} windows, the driver counted {windows}")
    return out


def shuffled_batches(dataset, *, windows: int, global_batch: int, world: int, rank: int, seed: int,
                     epoch: int, columns: tuple[str, ...] | None = None) -> Iterator[dict[str, np.ndarray]]:
    """This worker's local batches of epoch ``epoch`` (see the module docstring), as NumPy dicts.

    Args:
        dataset: the whole training split: a Ray ``Dataset`` or ``DataIterator`` (a worker's
            unsplit ``get_dataset_shard``) whose rows come in one fixed order.
        windows: the split's window count, as the driver counted it.
        global_batch: ``train.batch_size``; each worker yields ``global_batch / world`` rows.
        world, rank: the worker count and this worker's rank.
        seed, epoch: what the order is drawn from.
        columns: the columns to keep; None: all, as ``iter_batches`` would give them.

    The split is read at the first ``next()``, so its cost shows as data wait.
    """
    share = worker_share(epoch_order(windows, global_batch, seed, epoch), world, rank)
    if not share.size:
        return
    stream = dataset.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=4)
    rows = gather_rows(stream, share.ravel(), windows, columns)
    local = share.shape[1]
    for step in range(share.shape[0]):
        yield {col: values[step * local:(step + 1) * local] for col, values in rows.items()}
