"""Proper scoring rules over sampled paths: what the generator is trained and selected by.

A supervised L1 term is minimised by the conditional median and L2 by the mean: either
rewards a generator that ignores its noise. The energy score of K draws per window,

    ES = mean_i |G_i - y| - 1/2 mean_{i != j} |G_i - G_j|     (|.|: Euclidean over the horizon)

is minimised in expectation only by the true conditional distribution (Gneiting & Raftery
2007; Pacchiardi et al. 2024 train generators on it), so the spread the noise adds pays for
itself where the future is uncertain. For one step it is the sample CRPS. Every function
returns one value per window, so callers average over the global batch like any other loss.
"""

from __future__ import annotations

import tensorflow as tf

_EPS = 1e-12  # keeps the norm's gradient finite where two draws coincide


def _norm(diff: tf.Tensor) -> tf.Tensor:
    return tf.sqrt(tf.reduce_sum(tf.square(diff), axis=-1) + _EPS)


def energy_score(real: tf.Tensor, samples: tf.Tensor) -> tf.Tensor:
    """Per-window energy score of ``samples`` ``[B, K, H]`` (K >= 2 draws) against ``real`` ``[B, H]``.

    The spread term uses the K(K-1) distinct pairs, the unbiased estimator: with the diagonal
    included, K draws would be rewarded for less spread than the truth has.
    """
    samples = tf.cast(samples, tf.float32)
    real = tf.cast(real, tf.float32)
    k = tf.cast(tf.shape(samples)[1], tf.float32)
    accuracy = tf.reduce_mean(_norm(samples - real[:, None, :]), axis=1)
    pairs = _norm(samples[:, :, None, :] - samples[:, None, :, :])  # [B, K, K], diagonal ~0
    spread = (tf.reduce_sum(pairs, axis=[1, 2]) - k * tf.sqrt(_EPS)) / (k * (k - 1.0))
    return accuracy - 0.5 * spread


def sample_crps(real: tf.Tensor, samples: tf.Tensor) -> tf.Tensor:
    """Per-window CRPS of each step's draws, averaged over the horizon: ``[B, K, H]`` vs ``[B, H]``."""
    samples = tf.cast(samples, tf.float32)
    real = tf.cast(real, tf.float32)
    k = tf.cast(tf.shape(samples)[1], tf.float32)
    accuracy = tf.reduce_mean(tf.abs(samples - real[:, None, :]), axis=1)  # [B, H]
    spread = tf.reduce_sum(tf.abs(samples[:, :, None, :] - samples[:, None, :, :]), axis=[1, 2]) / (k * (k - 1.0))
    return tf.reduce_mean(accuracy - 0.5 * spread, axis=-1)


def interval_rank(draws: int, level: float = 0.9) -> int:
    """Which order statistic bounds the central ``level`` interval of ``draws`` draws: the j-th
    smallest and j-th largest, j = round((1 - level) / 2 * (K + 1)), at least 1. For exchangeable
    draws the interval then covers (K + 1 - 2j) / (K + 1): exactly ``level`` when K + 1 is a multiple
    of 20 for 90% (19, 39, 59, ...); interpolated sample quantiles would cover about
    level * (K - 1) / (K + 1), biased low (0.865 for K = 50). Training's ``val_coverage90`` and
    ``lstmgan-evaluate`` both use it, so their coverages mean the same thing."""
    return max(1, int(round((1.0 - level) / 2.0 * (draws + 1))))


def interval_covered(real: tf.Tensor, samples: tf.Tensor, level: float = 0.9) -> tf.Tensor:
    """Per window, the share of steps whose real value lies in the central ``level`` interval of
    its K draws (``interval_rank``): with K = 19, between the smallest and the largest, exactly 90%
    for exchangeable draws."""
    ordered = tf.sort(tf.cast(samples, tf.float32), axis=1)
    k = samples.shape[1]
    outer = interval_rank(k, level)
    low, high = ordered[:, outer - 1, :], ordered[:, k - outer, :]
    real = tf.cast(real, tf.float32)
    inside = tf.cast((real >= low) & (real <= high), tf.float32)
    return tf.reduce_mean(inside, axis=-1)
