"""What keeps N workers' steps in agreement and catches a diverged one: the shared float16 skip
decision and the first non-finite step, kept apart from ``gan`` so the model reads as the GAN alone."""

from __future__ import annotations

import keras
import tensorflow as tf

NO_BAD_STEP = 2**31 - 1


def skip_together(grads):
    """Make every worker's gradients non-finite when any worker's are.

    ``LossScaleOptimizer`` decides to skip a float16 step on its *local*
    gradients, before they are all-reduced; with several workers one could skip
    (and halve its loss scale) while another applies its step and waits in the
    all-reduce forever, or the replicas drift apart. One scalar all-reduce first
    makes the decision, and so the loss scale, the same on every worker.
    """
    present = [g for g in grads if g is not None]
    bad = tf.add_n([tf.reduce_sum(tf.cast(~tf.math.is_finite(g), tf.float32)) for g in present])
    ctx = tf.distribute.get_replica_context()
    if ctx is not None:
        bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, bad)
    poison = tf.where(bad > 0, tf.constant(float("nan")), tf.constant(0.0))
    return [None if g is None else g + tf.cast(poison, g.dtype) for g in grads]


class SyncedLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Keras' dynamic loss scaling for float16, with the skip decision shared by all workers."""

    def apply(self, grads, trainable_variables=None):
        return super().apply(skip_together(list(grads)), trainable_variables)


class FirstNonFiniteStep(keras.metrics.Metric):
    """The first optimizer step (as seen by replica 0) whose losses were NaN or inf, else NO_BAD_STEP."""

    def __init__(self, name="first_nonfinite_step", **kwargs):
        super().__init__(name=name, **kwargs)
        self.first = self.add_variable(shape=(), initializer=keras.initializers.Constant(NO_BAD_STEP),
                                       dtype="int64", aggregation="only_first_replica", name="first")

    def update_state(self, finite, step):
        candidate = tf.where(finite, tf.constant(NO_BAD_STEP, tf.int64), tf.cast(step, tf.int64))
        self.first.assign(tf.minimum(self.first, candidate))

    def result(self):
        return keras.ops.add(self.first, 0)  # a read, as Mean.result does; works on synced variables

    def reset_state(self):
        self.first.assign(NO_BAD_STEP)
