"""The pieces of one worker's epoch: the compiled global step, the step loop, validation sums.

A hand-written loop instead of ``gan.fit``: Keras 3's fit probes the first batch with
``strategy.reduce`` on the whole (dict) batch, which fails with more than one MWMS
worker (keras-team/keras#20329); and Ray has already sharded the data, so each
worker's batch goes to its replica as it is.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from lstmgan_ray.model.gan import NO_BAD_STEP

VALIDATION_DRAWS = 1 << 40  # validation noise seeds live far from the training steps' draw ids


def all_sum(strategy, values) -> np.ndarray:
    """Sum a small float64 vector over all workers (one collective; every worker calls it)."""
    local = tf.constant(values, dtype=tf.float64)
    per_replica = strategy.experimental_distribute_values_from_function(lambda _ctx: local)
    return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()


def validation_sums(errors, scores, shard, batch_size: int, series: list[str], seed: int) -> np.ndarray:
    """Local sums over a val shard, to be summed over workers: squared errors (model,
    persistence) and the window count, then per series (in the order of ``series``) the CRPS,
    the covered share and the window count of the sampled forecasts.

    ``errors`` is ``gan.forecast_errors`` and ``scores`` ``gan.sample_scores``, each compiled once
    per worker (``tf.function`` with ``reduce_retracing``), so the batch sizes of later epochs
    reuse the traces of the first. The sampling noise is seeded by (seed, batch), the same draws
    every epoch, so epochs are compared on equal terms.
    """
    index = {sid: i for i, sid in enumerate(series)}
    totals, per_series = np.zeros(3), np.zeros((len(series), 3))
    for b, batch in enumerate(shard.iter_batches(batch_size=batch_size, batch_format="numpy")):
        features = {k: tf.constant(batch[k]) for k in ("x", "last", "mu", "sd", "vol") if k in batch}
        real = tf.constant(batch["y"])
        se, se_p = errors(features, real)
        crps, covered = scores(features, real, tf.constant([seed, VALIDATION_DRAWS + b], tf.int64))
        totals += [float(tf.reduce_sum(se)), float(tf.reduce_sum(se_p)), int(se.shape[0])]
        rows = np.array([index[str(sid)] for sid in batch["series_id"]], dtype=np.int64)
        np.add.at(per_series, rows, np.stack([crps.numpy(), covered.numpy(), np.ones(len(rows))], axis=1))
    return np.concatenate([totals, per_series.ravel()])


def per_series_means(per_series: np.ndarray) -> tuple[float, float]:
    """(CRPS, coverage) averaged over series from their summed rows: each series counts once,
    however many windows it has, so a long or volatile series does not drown the others."""
    per_series = per_series.reshape(-1, 3)
    scored = per_series[per_series[:, 2] > 0]
    if not len(scored):
        return float("nan"), float("nan")
    return float(np.mean(scored[:, 0] / scored[:, 2])), float(np.mean(scored[:, 1] / scored[:, 2]))


def distributed_train_step(strategy, gan):
    """One compiled global step: ``gan.train_step`` on every replica, gradients all-reduced."""

    @tf.function
    def step(batch):
        strategy.run(gan.train_step, args=(batch,))

    return step


def run_epoch(strategy, step_fn, gan, batches, steps: int, *, start_step: int = 0, after_step=None):
    """Run global steps ``start_step``..``steps`` over an iterable of this worker's NumPy batches.

    Returns the epoch's loss means (synced over workers, by tracker name) and the seconds
    spent waiting on data. An epoch resumed from a mid-epoch checkpoint (``start_step``
    > 0, loss trackers restored) first skips the batches already trained on, so the
    rest of the epoch sees exactly the windows an unbroken one would. ``after_step``
    is called with the number of steps done after each step. The iterable is
    drained to its end afterwards, so that the next epoch's Ray Data iteration
    starts at the beginning of the shard.
    """
    if start_step == 0:
        for tracker in gan.metrics:
            tracker.reset_state()
    first_step = int(gan.g_optimizer.iterations.numpy()) - start_step
    iterator = iter(batches)
    waited = 0.0
    for _ in range(start_step):
        next(iterator)
    for done in range(start_step + 1, steps + 1):
        t0 = time.perf_counter()
        batch = next(iterator)
        waited += time.perf_counter() - t0
        local = ({"x": tf.constant(batch["x"])}, tf.constant(batch["y"]))
        step_fn(strategy.experimental_distribute_values_from_function(lambda _ctx, v=local: v))
        if after_step is not None:
            after_step(done)
    for _ in iterator:
        pass
    logs = {m.name: float(m.result()) for m in gan.loss_trackers}
    bad = int(gan.nonfinite_tracker.result())
    logs["first_nonfinite_step"] = None if bad == NO_BAD_STEP else bad - first_step + 1
    return logs, waited
