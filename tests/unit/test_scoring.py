"""The scoring rules the generator is trained and selected by: NumPy references and their optimum."""

import numpy as np
import pytest
import tensorflow as tf

from lstmgan_ray.model.scoring import energy_score, interval_covered, interval_rank, sample_crps


def energy_reference(real: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Plain loops: mean distance to the truth, minus half the mean distance between distinct draws."""
    out = []
    for y, draws in zip(real, samples):
        k = len(draws)
        accuracy = np.mean([np.linalg.norm(d - y) for d in draws])
        spread = sum(np.linalg.norm(draws[i] - draws[j]) for i in range(k) for j in range(k) if i != j)
        out.append(accuracy - 0.5 * spread / (k * (k - 1)))
    return np.array(out)


def test_energy_score_and_crps_match_numpy():
    rng = np.random.default_rng(0)
    real, samples = rng.normal(size=(6, 3)), rng.normal(size=(6, 5, 3))
    np.testing.assert_allclose(energy_score(real, samples).numpy(), energy_reference(real, samples), atol=1e-5)
    # CRPS: the one-dimensional energy score of each step, averaged over the horizon.
    per_step = np.mean([energy_reference(real[:, [h]], samples[:, :, [h]]) for h in range(3)], axis=0)
    np.testing.assert_allclose(sample_crps(real, samples).numpy(), per_step, atol=1e-5)


@pytest.mark.parametrize("truth_sd", [0.5, 2.0])
def test_energy_score_is_minimised_by_the_true_spread(truth_sd):
    """Draws ``scale * z`` scored against N(0, truth_sd^2) outcomes: gradient descent on the mean
    energy score lands on scale = truth_sd, where L1 (the median) would shrink it to zero."""
    rng = np.random.default_rng(1)
    z = tf.constant(rng.normal(size=(4000, 8, 1)), tf.float32)
    real = tf.constant(rng.normal(scale=truth_sd, size=(4000, 1)), tf.float32)
    scale = tf.Variable(1.0)
    opt = tf.keras.optimizers.SGD(0.5)
    for _ in range(300):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(energy_score(real, scale * z))
        opt.apply_gradients([(tape.gradient(loss, scale), scale)])
    assert abs(float(scale) - truth_sd) < 0.08 * truth_sd


def test_nineteen_draws_cover_ninety_percent_of_exchangeable_outcomes():
    rng = np.random.default_rng(2)
    draws = rng.normal(size=(20000, 20, 1)).astype(np.float32)  # the truth is a 20th draw
    covered = interval_covered(draws[:, 0], draws[:, 1:]).numpy()
    assert abs(covered.mean() - 0.9) < 0.01
    # with 39 draws the 2nd smallest and 2nd largest bound the 90% interval: still exact
    wider = rng.normal(size=(20000, 40, 1)).astype(np.float32)
    assert interval_rank(39) == 2
    assert abs(interval_covered(wider[:, 0], wider[:, 1:]).numpy().mean() - 0.9) < 0.01
    assert interval_covered(np.zeros((1, 1)), np.full((1, 19, 1), 5.0)).numpy()[0] == 0.0
