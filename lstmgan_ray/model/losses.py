"""Paired GAN losses as pure per-example functions.

Every function returns one value per example (shape ``[batch]``); the caller
averages over the *global* batch with ``tf.nn.compute_average_loss``, so that a
step on N workers equals a step on one worker with the same global batch.
The discriminator outputs logits; the sigmoid lives here (``from_logits``).
"""

from __future__ import annotations

import tensorflow as tf

from lstmgan_ray.model.scoring import energy_score


def _flat(logits: tf.Tensor) -> tf.Tensor:
    return tf.reshape(tf.cast(logits, tf.float32), [tf.shape(logits)[0]])


def gan_discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Non-saturating GAN critic loss: BCE(real→1) + BCE(fake→0), on logits."""
    real, fake = _flat(real_logits), _flat(fake_logits)
    return (tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(real), logits=real)
            + tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(fake), logits=fake))


def gan_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """Non-saturating generator loss: BCE(fake→1), i.e. -log D(G(z))."""
    fake = _flat(fake_logits)
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(fake), logits=fake)


def wasserstein_discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """WGAN critic loss: D(fake) - D(real) per example (the critic maximises the gap)."""
    return _flat(fake_logits) - _flat(real_logits)


def wasserstein_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """WGAN generator loss: -D(fake) per example."""
    return -_flat(fake_logits)


def gradient_penalty(critic, real: tf.Tensor, fake: tf.Tensor, seed: tf.Tensor | None = None,
                     alpha: tf.Tensor | None = None) -> tf.Tensor:
    """WGAN-GP penalty (||∇D(x̂)||₂ - 1)² per example, x̂ on the segment real→fake.

    The interpolation weight is drawn from U(0, 1), one per example (Gulrajani
    et al. 2017), not from a normal as some implementations do.

    Args:
        critic: the discriminator (a callable returning logits).
        real, fake: ``[batch, steps, 1]`` sequences.
        seed: optional stateless seed ``[2]`` for a reproducible draw.
        alpha: ``[batch, 1, 1]`` the weights themselves, drawn by the caller (a training step draws
            them for the global batch, so they do not depend on the worker count).
    """
    shape = [tf.shape(real)[0], 1, 1]
    if alpha is not None:
        alpha = tf.cast(alpha, real.dtype)
    elif seed is None:
        alpha = tf.random.uniform(shape, 0.0, 1.0, dtype=real.dtype)
    else:
        alpha = tf.random.stateless_uniform(shape, seed=seed, minval=0.0, maxval=1.0, dtype=real.dtype)
    mixed = real + alpha * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        logits = critic(mixed, training=True)
    grads = tf.cast(tape.gradient(logits, mixed), tf.float32)
    norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2]) + 1e-12)
    return tf.square(norm - 1.0)


def supervised_loss(real_next: tf.Tensor, samples: tf.Tensor, kind: str = "energy") -> tf.Tensor:
    """Per-window supervised term of ``samples`` ``[B, K, H]`` against ``real_next`` ``[B, H]``.

    ``energy``: the energy score of the K draws (``scoring.energy_score``), minimised by the
    true conditional distribution. ``l1``/``l2``: the mean over draws of each draw's absolute or
    squared error (mean over the horizon), minimised by a generator that always emits the
    conditional median or mean, whatever its noise.
    """
    if kind == "energy":
        return energy_score(real_next, samples)
    diff = tf.cast(samples, tf.float32) - tf.cast(real_next, tf.float32)[:, None, :]
    if kind == "l1":
        return tf.reduce_mean(tf.abs(diff), axis=[1, 2])
    if kind == "l2":
        return tf.reduce_mean(tf.square(diff), axis=[1, 2])
    raise ValueError(f"unknown supervised loss {kind!r}; use 'energy', 'l1' or 'l2'")


LOSSES = {
    "gan": (gan_generator_loss, gan_discriminator_loss),
    "wgan-gp": (wasserstein_generator_loss, wasserstein_discriminator_loss),
}
