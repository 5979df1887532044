"""One LSTMGAN step: weights move, losses are finite, trackers and price inversion are right."""

import numpy as np
import pytest
import tensorflow as tf

from lstmgan_ray.config import Config
from lstmgan_ray.model.gan import next_values_to_prices
from lstmgan_ray.train.build import build_gan
from tests.helpers import TINY_MODEL

FEATURES = ["open", "high", "low", "close", "volume"]


def tiny_gan(**train):
    cfg = Config.from_dict({"data": {"input_dim": 6, "output_dim": 2}, "model": TINY_MODEL,
                            "train": {"batch_size": 16, **train}}).to_dict()
    return build_gan(cfg, {"features": FEATURES, "target_index": 3})


def batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return ({"x": tf.constant(rng.normal(size=(n, 6, 5)), tf.float32)},
            tf.constant(rng.normal(size=(n, 2)), tf.float32))


@pytest.mark.parametrize("loss", ["gan", "wgan-gp"])
def test_one_step_moves_both_networks_with_finite_losses(loss):
    gan = tiny_gan(loss=loss)
    g0 = [w.numpy().copy() for w in gan.generator.trainable_weights]
    d0 = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    logs = tf.function(gan.train_step)(batch())
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(g0, gan.generator.trainable_weights))
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(d0, gan.discriminator.trainable_weights))
    critic_steps = 5 if loss == "wgan-gp" else 1
    assert int(gan.d_optimizer.iterations) == critic_steps
    assert int(gan.g_optimizer.iterations) == 1


def test_trackers_average_per_example_losses():
    gan = tiny_gan(supervised_weight=0.5)
    logs = gan.train_step(batch())
    # g_loss is tracked per example, so it equals adv + 0.5 * sup on the batch means.
    np.testing.assert_allclose(float(logs["g_loss"]),
                               float(logs["g_adv_loss"]) + 0.5 * float(logs["g_sup_loss"]), rtol=1e-5)


def test_noise_makes_samples_differ_and_zero_noise_is_deterministic():
    gan = tiny_gan()
    x = batch()[0]["x"]
    a, b = gan.generate(x, seed=tf.constant([1, 1], tf.int64)), gan.generate(x, seed=tf.constant([1, 2], tf.int64))
    assert not np.allclose(a.numpy(), b.numpy())
    np.testing.assert_array_equal(gan.generate(x, noise_scale=0.0).numpy(), gan.generate(x, noise_scale=0.0).numpy())


def test_prices_from_log_returns_and_diffs():
    values = tf.constant([[1.0, -1.0]])
    last, mu, sd = tf.constant([100.0], tf.float64), tf.constant([0.01], tf.float64), tf.constant([0.02], tf.float64)
    r = np.array([0.03, -0.01])
    np.testing.assert_allclose(next_values_to_prices(values, last, mu, sd, "log_return").numpy()[0],
                               100 * np.exp(np.cumsum(r)))
    np.testing.assert_allclose(next_values_to_prices(values, last, mu, sd, "diff").numpy()[0],
                               100 + np.cumsum(r))
    np.testing.assert_allclose(next_values_to_prices(values, last, mu, sd, "none").numpy()[0], r)


def test_forecast_errors_against_numpy():
    gan = tiny_gan()
    feats, y = batch()
    n = y.shape[0]
    feats = dict(feats, last=tf.fill([n], 50.0), mu=tf.zeros([n]), sd=tf.fill([n], 0.01))
    se, se_p = gan.forecast_errors(feats, y)
    pred = gan.generate(feats["x"], noise_scale=0.0).numpy().astype(np.float64)
    p_pred = 50 * np.exp(np.cumsum(pred * 0.01, axis=1))
    p_true = 50 * np.exp(np.cumsum(y.numpy().astype(np.float64) * 0.01, axis=1))
    np.testing.assert_allclose(se.numpy(), ((p_pred - p_true) ** 2).mean(1), rtol=1e-4)
    np.testing.assert_allclose(se_p.numpy(), ((50 - p_true) ** 2).mean(1), rtol=1e-6)


def test_head_noise_with_student_t_trains_and_draws_heavy_tailed_unit_variance_noise():
    from scipy.stats import kurtosis

    cfg = Config.from_dict({"data": {"input_dim": 6, "output_dim": 2},
                            "model": {**TINY_MODEL, "noise_placement": "head", "noise_dof": 5.0},
                            "train": {"batch_size": 16}}).to_dict()
    gan = build_gan(cfg, {"features": FEATURES, "target_index": 3})
    assert gan.head_noise and gan.noise_dof == 5.0
    g0 = [w.numpy().copy() for w in gan.generator.trainable_weights]
    logs = tf.function(gan.train_step)(batch())
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(g0, gan.generator.trainable_weights))
    seed = tf.constant([3, 4], tf.int64)
    t = gan._noise([100_000], tf.float32, seed, 1.0).numpy()
    gauss = Config.from_dict({"model": TINY_MODEL}).model.noise_dof is None
    assert gauss  # the default stays Gaussian
    assert abs(t.std() - 1.0) < 0.03 and kurtosis(t) > 2.0  # t5: variance 1, excess kurtosis 6 in theory
    np.testing.assert_array_equal(t, gan._noise([100_000], tf.float32, seed, 1.0).numpy())  # seeded
