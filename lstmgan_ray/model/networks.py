"""The reference design's two networks (``docs/design.md`` describes them).

Signatures and defaults follow the design; every width is an argument so a
config can shrink the networks without a second code path. Three deliberate
departures from the published code, all fixes: the discriminator flattens its
Conv1D features before the Dense head (the design notes the missing Flatten),
it returns a logit, because the upstream code applied ``from_logits=True``
to a sigmoid output, and its kernel-1 layer strides by 1, because with stride 2
it never saw the newest step of any sequence longer than the design's 4 steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

GENERATOR_UNITS = (1024, 512, 256, 128, 64)
GENERATOR_DENSE = (32, 16, 8)
DISCRIMINATOR_FILTERS = (8, 16, 32, 64, 128)
DISCRIMINATOR_KERNELS = (3, 3, 3, 3, 1)
DISCRIMINATOR_DENSE = (220, 220)


def make_generator_model(
    input_dim: int,
    output_dim: int,
    feature_size: int,
    noise_dim: int = 0,
    units: Sequence[int] = GENERATOR_UNITS,
    dense_units: Sequence[int] = GENERATOR_DENSE,
    recurrent_dropout: float = 0.3,
    dropout: float = 0.0,
    dtype: str | None = None,
    use_cudnn: bool | str = "auto",
    unroll: bool = False,
    noise_placement: str = "input",
) -> keras.Model:
    """Stacked LSTMs then Dense layers: a window of features (+ noise) to the next values.

    Args:
        input_dim: window length in steps.
        output_dim: number of future target values produced.
        feature_size: scaled features per step.
        noise_dim: extra Gaussian noise channels appended to every step; the
            input is ``(input_dim, feature_size + noise_dim)``, noise last.
        units: LSTM widths, first to last (all but the last return sequences).
        dense_units: hidden Dense widths after the last LSTM.
        recurrent_dropout: the design's 0.3; any value > 0 rules out cuDNN on GPUs.
        dropout: dropout between LSTM layers, the cuDNN-friendly alternative.
        dtype: dtype policy of the hidden layers (``"mixed_bfloat16"``, ...); ``None`` is
            float32. The output layer always computes in float32, as mixed precision needs.
        use_cudnn: Keras' LSTM switch; ``False`` keeps the generic kernel, which XLA can compile.
        unroll: unroll the LSTMs' time loop (the same arithmetic without a ``while_loop``: faster
            for short windows, more memory for long ones; rules out cuDNN).
        noise_placement: ``input`` (the design: noise channels on every step of the window) or
            ``head`` (noise joins the LSTMs' output before the Dense layers, so K draws of a window
            share one LSTM pass; the model then takes ``[window, noise]``, see ``JoinDraws``).
    """
    lstms = []
    for i, width in enumerate(units):
        last = i == len(units) - 1
        lstms.append(layers.LSTM(width, return_sequences=not last, recurrent_dropout=recurrent_dropout,
                                 use_cudnn=use_cudnn, unroll=unroll, name=f"lstm_{i}", dtype=dtype))
        if dropout > 0 and not last:
            lstms.append(layers.Dropout(dropout, name=f"dropout_{i}", dtype=dtype))
    if noise_placement == "head":
        return _head_noise_generator(input_dim, output_dim, feature_size, noise_dim, lstms, dense_units, dtype)
    model = keras.Sequential(name="generator")
    model.add(keras.Input(shape=(input_dim, feature_size + noise_dim), name="window"))
    for layer in lstms:
        model.add(layer)
    for i, width in enumerate(dense_units):
        model.add(layers.Dense(width, name=f"dense_{i}", dtype=dtype))
    model.add(layers.Dense(output_dim, name="next_values", dtype="float32"))
    return model


@keras.saving.register_keras_serializable(package="lstmgan_ray")
class JoinDraws(layers.Layer):
    """``[B, D]`` context and ``[B, K, N]`` noise -> ``[B, K, D + N]``: the K draws of a window share
    its one pass through the LSTMs (``noise_placement: head``)."""

    def call(self, inputs):
        context, noise = inputs
        tiled = keras.ops.repeat(keras.ops.expand_dims(context, 1), keras.ops.shape(noise)[1], axis=1)
        return keras.ops.concatenate([tiled, keras.ops.cast(noise, tiled.dtype)], axis=-1)

    def compute_output_shape(self, input_shapes):
        context, noise = input_shapes
        return (context[0], noise[1], context[-1] + noise[-1])


def _head_noise_generator(input_dim: int, output_dim: int, feature_size: int, noise_dim: int, lstms: list,
                          dense_units: Sequence[int], dtype: str | None) -> keras.Model:
    """The same layers with the noise joining after the LSTMs: inputs ``window`` ``[B, T, F]`` and
    ``noise`` ``[B, K, noise_dim]``, output ``[B, K, output_dim]``."""
    window = keras.Input(shape=(input_dim, feature_size), name="window")
    noise = keras.Input(shape=(None, noise_dim), name="noise")
    h = window
    for layer in lstms:
        h = layer(h)
    h = JoinDraws(name="join_draws", dtype=dtype)([h, noise])
    for i, width in enumerate(dense_units):
        h = layers.Dense(width, name=f"dense_{i}", dtype=dtype)(h)
    out = layers.Dense(output_dim, name="next_values", dtype="float32")(h)
    return keras.Model([window, noise], out, name="generator")


def make_discriminator_model(
    input_dim: int,
    output_dim: int = 1,
    filters: Sequence[int] = DISCRIMINATOR_FILTERS,
    kernels: Sequence[int] = DISCRIMINATOR_KERNELS,
    dense_units: Sequence[int] = DISCRIMINATOR_DENSE,
    leaky_relu_alpha: float = 0.01,
    dtype: str | None = None,
) -> keras.Model:
    """Strided Conv1D layers then Dense layers: a target sequence to one real/fake logit.

    Args:
        input_dim: window length; the input is the window's past target values
            joined with ``output_dim`` real or generated next values.
        output_dim: number of appended next values (the design's ``+ 1``).
        filters, kernels: Conv1D widths and kernel sizes ('same'; stride 2, or 1 for kernel 1).
        dense_units: hidden Dense widths (no bias, as in the design).
        leaky_relu_alpha: slope of the Conv1D activations.
        dtype: dtype policy of the hidden layers; the logit always computes in float32.
    """
    model = keras.Sequential(name="discriminator")
    model.add(keras.Input(shape=(input_dim + output_dim, 1), name="sequence"))
    for i, (width, kernel) in enumerate(zip(filters, kernels, strict=True)):
        # The design strides every layer by 2; a kernel narrower than its stride would skip
        # inputs (its kernel-1 last layer dropped every other position, which for any sequence
        # longer than 4 steps included the newest, generated one), so it strides by its kernel.
        model.add(layers.Conv1D(width, kernel_size=kernel, strides=min(2, kernel), padding="same",
                                activation=layers.LeakyReLU(negative_slope=leaky_relu_alpha, dtype=dtype),
                                name=f"conv_{i}", dtype=dtype))
    model.add(layers.Flatten(name="flatten", dtype=dtype))
    for i, width in enumerate(dense_units):
        last = i == len(dense_units) - 1
        # The design: LeakyReLU, Dense, LeakyReLU, Dense(relu) ... — i.e. a LeakyReLU
        # before every hidden Dense but the last, which carries its own ReLU.
        model.add(layers.LeakyReLU(name=f"leaky_{i}", dtype=dtype))
        model.add(layers.Dense(width, use_bias=False, activation="relu" if last else None,
                               name=f"dense_{i}", dtype=dtype))
    model.add(layers.Dense(1, name="logit", dtype="float32"))
    return model


def scaled_widths(widths: list[int], multiplier: float) -> list[int]:
    """Layer widths times ``multiplier``, rounded, never below one unit (a sweep's size knob)."""
    return [max(1, round(w * multiplier)) for w in widths]


def build_models(model_cfg, input_dim: int, output_dim: int, feature_size: int,
                 dtype: str | None = None, use_cudnn: bool | str = "auto", unroll: bool = False):
    """Both networks from a ``ModelSection`` (or its dict), the one place configs meet layers.

    ``dtype`` is the hidden layers' dtype policy (mixed precision; ``None``: float32),
    ``use_cudnn`` the generator LSTMs' kernel choice (``False`` where XLA must compile them)
    and ``unroll`` whether their time loop is unrolled.
    """
    m = model_cfg if isinstance(model_cfg, dict) else model_cfg.model_dump()
    scale = m.get("width_multiplier", 1.0)
    generator = make_generator_model(
        input_dim, output_dim, feature_size, noise_dim=m["noise_dim"],
        units=scaled_widths(m["generator_units"], scale),
        dense_units=scaled_widths(m["generator_dense"], scale),
        recurrent_dropout=m["recurrent_dropout"], dropout=m["dropout"], dtype=dtype, use_cudnn=use_cudnn,
        unroll=unroll, noise_placement=m.get("noise_placement", "input"))
    discriminator = make_discriminator_model(
        input_dim, output_dim, filters=scaled_widths(m["discriminator_filters"], scale),
        kernels=m["discriminator_kernels"], dense_units=scaled_widths(m["discriminator_dense"], scale),
        leaky_relu_alpha=m["leaky_relu_alpha"], dtype=dtype)
    return generator, discriminator
