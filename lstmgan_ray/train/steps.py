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


def all_sum(strategy, values) -> np.ndarray:
    """Sum a small float64 vector over all workers (one collective; every worker calls it)."""
    local = tf.constant(values, dtype=tf.float64)
    per_replica = strategy.experimental_distribute_values_from_function(lambda _ctx: local)
    return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()


def validation_sums(errors, shard, batch_size: int) -> np.ndarray:
    """Local sums of squared errors (model, persistence) and the window count over a val shard.

    ``errors`` is ``gan.forecast_errors`` compiled once per worker (``tf.function`` with
    ``reduce_retracing``), so the batch sizes of later epochs reuse the traces of the first.
    """
    sums = np.zeros(3)
    for batch in shard.iter_batches(batch_size=batch_size, batch_format="numpy"):
        se, se_p = errors({k: tf.constant(batch[k]) for k in ("x", "last", "mu", "sd")},
                          tf.constant(batch["y"]))
        sums += [float(tf.reduce_sum(se)), float(tf.reduce_sum(se_p)), int(se.shape[0])]
    return sums


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
