"""The reference design's shapes and parameter counts."""

import numpy as np
import pytest
import tensorflow as tf

from lstmgan_ray.model.networks import make_discriminator_model, make_generator_model


def test_generator_matches_reference_parameter_count():
    g = make_generator_model(3, 1, 36)
    assert g.count_params() == 8_530_369
    assert [layer.units for layer in g.layers if hasattr(layer, "units")] == [1024, 512, 256, 128, 64, 32, 16, 8, 1]
    lstms = [layer for layer in g.layers if layer.__class__.__name__ == "LSTM"]
    assert [layer.return_sequences for layer in lstms] == [True, True, True, True, False]
    assert all(layer.recurrent_dropout == 0.3 for layer in lstms)


def test_generator_noise_channels_widen_only_the_input():
    g0 = make_generator_model(5, 2, 6, units=(8, 4), dense_units=(3,))
    g3 = make_generator_model(5, 2, 6, noise_dim=3, units=(8, 4), dense_units=(3,))
    assert g3.input_shape == (None, 5, 9)
    # Only the first LSTM's input kernel grows: 3 extra rows of 4*8 gates.
    assert g3.count_params() - g0.count_params() == 3 * 4 * 8
    out = g3(np.zeros((2, 5, 9), np.float32))
    assert out.shape == (2, 2)


def test_unrolled_generator_computes_what_the_looped_one_does():
    """Unrolling changes how the LSTMs run, not what they compute: same weights, same outputs
    and gradients (a different network, e.g. other weights, would fail this)."""
    import tensorflow as tf

    looped = make_generator_model(4, 1, 3, noise_dim=2, units=(8, 4), dense_units=(3,), recurrent_dropout=0.0)
    unrolled = make_generator_model(4, 1, 3, noise_dim=2, units=(8, 4), dense_units=(3,), recurrent_dropout=0.0,
                                    unroll=True)
    assert [layer.unroll for layer in unrolled.layers if hasattr(layer, "unroll")] == [True, True]
    x = np.random.default_rng(0).normal(size=(5, 4, 5)).astype(np.float32)
    assert not np.allclose(unrolled(x).numpy(), looped(x).numpy())  # fresh weights differ...
    unrolled.set_weights(looped.get_weights())  # ...the same weights agree
    np.testing.assert_allclose(unrolled(x).numpy(), looped(x).numpy(), rtol=1e-5, atol=1e-6)
    grads = []
    for model in (looped, unrolled):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x, training=True) ** 2)
        grads.append(tape.gradient(loss, model.trainable_variables))
    for a, b in zip(*grads):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-6)


def test_discriminator_reference_layers_and_logit_output():
    d = make_discriminator_model(10)
    assert d.input_shape == (None, 11, 1)
    convs = [layer for layer in d.layers if layer.__class__.__name__ == "Conv1D"]
    assert [c.filters for c in convs] == [8, 16, 32, 64, 128]
    assert [c.kernel_size[0] for c in convs] == [3, 3, 3, 3, 1]
    assert [c.strides[0] for c in convs] == [2, 2, 2, 2, 1] and all(c.padding == "same" for c in convs)
    names = [layer.__class__.__name__ for layer in d.layers]
    assert names[5:] == ["Flatten", "LeakyReLU", "Dense", "LeakyReLU", "Dense", "Dense"]
    dense = [layer for layer in d.layers if layer.__class__.__name__ == "Dense"]
    assert [(x.units, x.use_bias) for x in dense] == [(220, False), (220, False), (1, True)]
    assert dense[1].activation.__name__ == "relu"
    assert dense[2].activation.__name__ == "linear"  # a logit: the sigmoid lives in the loss
    # 11 steps halve four times (same padding): 6, 3, 2, 1; the kernel-1 layer keeps 1 -> 128 features.
    assert d.get_layer("flatten").output.shape[-1] == 128
    logits = d(np.random.default_rng(0).normal(size=(4, 11, 1)).astype(np.float32))
    assert logits.shape == (4, 1)


@pytest.mark.parametrize("input_dim,output_dim", [(3, 1), (20, 1), (20, 5), (30, 5), (24, 8), (60, 1)])
def test_discriminator_sees_every_step_of_past_and_generated_block(input_dim, output_dim):
    # With the design's stride 2 on its kernel-1 layer, the newest step of any sequence longer than
    # 4 never reached the logit: the adversary was blind to the value it had to judge.
    d = make_discriminator_model(input_dim, output_dim)
    seq = tf.constant(np.random.default_rng(1).normal(size=(8, input_dim + output_dim, 1)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(seq)
        total = tf.reduce_sum(d(seq))
    reach = np.abs(tape.gradient(total, seq).numpy()).sum(axis=(0, 2))
    assert d.input_shape == (None, input_dim + output_dim, 1)
    assert np.all(reach > 0), f"steps never seen: {np.flatnonzero(reach == 0).tolist()}"


def test_discriminator_horizon_lengthens_input():
    d = make_discriminator_model(10, output_dim=3, filters=(4, 4), kernels=(3, 1), dense_units=(8,))
    assert d.input_shape == (None, 13, 1)
    assert d(np.zeros((2, 13, 1), np.float32)).shape == (2, 1)


def test_width_multiplier_scales_every_width_but_kernels_and_outputs():
    from lstmgan_ray.model.networks import build_models

    cfg = {"generator_units": [16, 8], "generator_dense": [4], "noise_dim": 0, "recurrent_dropout": 0.0,
           "dropout": 0.0, "discriminator_filters": [4, 6], "discriminator_kernels": [3, 1],
           "discriminator_dense": [10, 10], "leaky_relu_alpha": 0.01, "width_multiplier": 0.5}
    g, d = build_models(cfg, 4, 1, 3)
    assert [layer.units for layer in g.layers if hasattr(layer, "units")] == [8, 4, 2, 1]
    assert [layer.filters for layer in d.layers if hasattr(layer, "filters")] == [2, 3]
    assert [layer.kernel_size[0] for layer in d.layers if hasattr(layer, "kernel_size")] == [3, 1]
    assert [layer.units for layer in d.layers if hasattr(layer, "units")] == [5, 5, 1]
    # Never below one unit, whatever the multiplier.
    g_tiny, _ = build_models({**cfg, "width_multiplier": 0.01}, 4, 1, 3)
    assert [layer.units for layer in g_tiny.layers if hasattr(layer, "units")] == [1, 1, 1, 1]


def test_head_noise_generator_shares_one_lstm_pass_between_draws(tmp_path):
    import keras

    from lstmgan_ray.model.gan import LSTMGAN
    from lstmgan_ray.model.networks import build_models

    cfg = {"generator_units": [8, 4], "generator_dense": [4], "noise_dim": 3, "recurrent_dropout": 0.0,
           "dropout": 0.0, "discriminator_filters": [4, 4], "discriminator_kernels": [3, 1],
           "discriminator_dense": [6, 6], "leaky_relu_alpha": 0.01, "noise_placement": "head"}
    g, d = build_models(cfg, 5, 2, 1)
    same_lstms, _ = build_models({**cfg, "noise_placement": "input", "noise_dim": 0}, 5, 2, 1)
    # The same layers: only the Dense head's first layer reads 3 more (noise) inputs.
    assert g.count_params() == same_lstms.count_params() + 3 * 4
    gan = LSTMGAN(g, d, target_index=0, noise_dim=3)
    x = tf.random.normal([6, 5, 1], seed=1)
    draws = gan.draw(x, 7, training=False, seed=tf.constant([1, 2], tf.int64))
    assert gan.head_noise and draws.shape == (6, 7, 2) and gan.generate(x).shape == (6, 2)
    assert float(tf.math.reduce_std(draws[:, :, 0], axis=1)[0]) > 0  # the draws differ
    mode = gan.generate(x, noise_scale=0.0)
    # Zero noise: every draw is the window's one LSTM output through the head.
    np.testing.assert_allclose(gan.draw(x, 3, False, None, noise_scale=0.0).numpy(),
                               np.repeat(mode.numpy()[:, None], 3, axis=1), rtol=1e-6)
    path = str(tmp_path / "generator.keras")
    g.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    noise = tf.random.normal([6, 4, 3], seed=2)
    np.testing.assert_allclose(loaded([x, noise]).numpy(), g([x, noise]).numpy(), rtol=1e-6)
