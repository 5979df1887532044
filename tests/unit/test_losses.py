"""Loss functions against hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf

from lstmgan_ray.model import losses as L


def sp(x):  # softplus, log(1 + e^x)
    return np.log1p(np.exp(x))


def test_gan_losses_are_bce_on_logits():
    real = tf.constant([[2.0], [-1.0]])
    fake = tf.constant([[0.5], [-3.0]])
    d = L.gan_discriminator_loss(real, fake).numpy()
    # BCE(1, l) = softplus(-l); BCE(0, l) = softplus(l)
    np.testing.assert_allclose(d, [sp(-2.0) + sp(0.5), sp(1.0) + sp(-3.0)], rtol=1e-6)
    g = L.gan_generator_loss(fake).numpy()
    np.testing.assert_allclose(g, [sp(-0.5), sp(3.0)], rtol=1e-6)


def test_wasserstein_losses():
    real = tf.constant([[2.0], [-1.0]])
    fake = tf.constant([[0.5], [-3.0]])
    np.testing.assert_allclose(L.wasserstein_discriminator_loss(real, fake).numpy(), [-1.5, -2.0])
    np.testing.assert_allclose(L.wasserstein_generator_loss(fake).numpy(), [-0.5, 3.0])


def test_gradient_penalty_of_linear_critic_is_known():
    # D(x) = sum(w * x): gradient w everywhere, so the penalty is (||w|| - 1)^2 for every example.
    w = tf.constant([[3.0], [4.0], [0.0]])  # ||w|| = 5

    def critic(x, training=False):
        return tf.reduce_sum(x * w[None], axis=[1, 2])[:, None]

    real = tf.random.normal([6, 3, 1])
    fake = tf.random.normal([6, 3, 1])
    gp = L.gradient_penalty(critic, real, fake, seed=tf.constant([1, 2], tf.int64)).numpy()
    np.testing.assert_allclose(gp, np.full(6, 16.0), rtol=1e-5)


def test_gradient_penalty_interpolates_with_uniform_weights():
    # A critic whose gradient depends on position reveals where x-hat was drawn.
    def critic(x, training=False):
        return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2])[:, None]  # grad = x-hat

    n = 4000
    real = tf.zeros([n, 1, 1])
    fake = tf.ones([n, 1, 1])
    # grad norm = |alpha|; penalty = (alpha - 1)^2, alpha ~ U(0,1): mean 1/3, all in [0, 1].
    gp = L.gradient_penalty(critic, real, fake, seed=tf.constant([3, 4], tf.int64)).numpy()
    assert gp.min() >= 0 and gp.max() <= 1
    assert abs(gp.mean() - 1 / 3) < 0.02


def test_supervised_losses():
    real = tf.constant([[1.0, 2.0], [0.0, 0.0]])
    fake = tf.constant([[2.0, 0.0], [1.0, -1.0]])[:, None, :]  # one draw per window
    np.testing.assert_allclose(L.supervised_loss(real, fake, "l1").numpy(), [1.5, 1.0])
    np.testing.assert_allclose(L.supervised_loss(real, fake, "l2").numpy(), [2.5, 1.0])
    with pytest.raises(ValueError, match="l3"):
        L.supervised_loss(real, fake, "l3")
    # Two draws: l1 averages each draw's error; energy rewards their spread.
    two = tf.constant([[[2.0, 0.0], [0.0, 2.0]], [[1.0, -1.0], [1.0, -1.0]]])
    np.testing.assert_allclose(L.supervised_loss(real, two, "l1").numpy(), [1.0, 1.0])
    np.testing.assert_allclose(L.supervised_loss(real, two, "energy").numpy(),
                               [(np.sqrt(5) + 1) / 2 - 0.5 * np.sqrt(8), np.sqrt(2)], rtol=1e-5)
