"""The generator's noise: unit-variance draws, seeded so that runs replay and worker counts agree.

Stateless noise seeds are pairs (stream, draw). The stream is the base seed times a prime (kept
from when each replica had a stream of its own, so one-worker runs draw what they always drew).
A training step draws its noise for the whole global batch and each replica keeps the rows of its
own examples (``sharded``), so 1 and N workers see the same noise on the same examples. Each
optimizer step owns DRAWS_PER_STEP consecutive draw ids: critic-only update k uses 2k (generator
noise) and 2k + 1 (its gradient penalty), the joint update the last two, so up to
(DRAWS_PER_STEP - 2) / 2 = 31 critic steps never reuse a draw, and a resumed run (same step
counter) replays exactly the same noise.
"""

from __future__ import annotations

import tensorflow as tf

STREAMS_PER_SEED = 7919
DRAWS_PER_STEP = 64
JOINT_NOISE_DRAW = DRAWS_PER_STEP - 2
JOINT_PENALTY_DRAW = DRAWS_PER_STEP - 1


def step_seed(seed: int, step: tf.Tensor, salt: int) -> tf.Tensor:
    """The stateless seed of draw ``salt`` of optimizer step ``step``."""
    step = tf.cast(step, tf.int64)
    return tf.stack([tf.constant(seed * STREAMS_PER_SEED, tf.int64), step * DRAWS_PER_STEP + salt])


def sharded(draw_fn, shape) -> tf.Tensor:
    """This replica's rows of ``draw_fn(global shape)``: the draw for the whole global batch (each
    worker trains on a contiguous slice of it, replica r on the r-th; ``data.shuffle``), cut to
    the replica's own examples, so the noise an example gets does not depend on the worker count.
    Drawing the global batch on every replica costs little beside a generator pass."""
    ctx = tf.distribute.get_replica_context()
    replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    if replicas == 1:
        return draw_fn(shape)
    shape = tf.convert_to_tensor(shape, tf.int32)
    rows = shape[0]
    first = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * rows
    return draw_fn(tf.concat([[rows * replicas], shape[1:]], axis=0))[first:first + rows]


def unit_noise(shape, dtype, seed: tf.Tensor | None, dof: float | None) -> tf.Tensor:
    """Unit-variance noise: Gaussian, or Student-t with ``dof`` degrees of freedom; seeded
    (stateless) or fresh."""
    if not dof:
        if seed is None:
            return tf.random.normal(shape, dtype=dtype)
        return tf.random.stateless_normal(shape, seed=seed, dtype=dtype)
    half = dof / 2.0
    if seed is None:
        normal, gamma = tf.random.normal(shape), tf.random.gamma(shape, half)
    else:
        first, second = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        normal = tf.random.stateless_normal(shape, seed=first)
        gamma = tf.random.stateless_gamma(shape, seed=second, alpha=half)
    # z / sqrt(chi2_v / v) is Student-t; times sqrt((v - 2) / v) it has variance 1.
    return tf.cast(normal * tf.sqrt(half / gamma) * ((dof - 2.0) / dof) ** 0.5, dtype)
