"""Floating-point operations of one GAN training step, counted from the layer shapes.

Matrix products only (LSTM gates, Dense and Conv1D layers) at 2 FLOPs per
multiply-add; gate nonlinearities and element-wise work are left out, as they
are from a matrix-product peak. Backward costs twice the forward pass (one
product for the inputs' gradient, one for the weights'), so a step is 3x forward.
"""

from __future__ import annotations

import math
from typing import Any


def lstm_flops(batch: int, steps: int, inputs: int, units: int) -> int:
    """Forward FLOPs of one LSTM layer: per step, the 4 gates' ``[x, h] @ W``."""
    return 2 * batch * steps * (inputs + units) * 4 * units


def dense_flops(batch: int, inputs: int, units: int) -> int:
    return 2 * batch * inputs * units


def conv1d_flops(batch: int, out_steps: int, kernel: int, channels_in: int, channels_out: int) -> int:
    return 2 * batch * out_steps * kernel * channels_in * channels_out


def _scaled(model: dict[str, Any]) -> dict[str, Any]:
    """The model section with ``width_multiplier`` applied, as ``build_models`` applies it."""
    from lstmgan_ray.model.networks import scaled_widths  # imports Keras: only when counted

    m = model.get("width_multiplier", 1.0)
    keys = ("generator_units", "generator_dense", "discriminator_filters", "discriminator_dense")
    return {**model, **{k: scaled_widths(list(model[k]), m) for k in keys}}


def generator_forward_flops(model: dict[str, Any], batch: int, input_dim: int, features: int,
                            output_dim: int = 1) -> int:
    """The generator on ``batch`` windows of ``input_dim`` steps x (features + noise channels)."""
    model = _scaled(model)
    width, total = features + model["noise_dim"], 0
    for units in model["generator_units"]:
        total += lstm_flops(batch, input_dim, width, units)
        width = units
    for units in [*model["generator_dense"], output_dim]:
        total += dense_flops(batch, width, units)
        width = units
    return total


def discriminator_forward_flops(model: dict[str, Any], batch: int, input_dim: int, output_dim: int = 1) -> int:
    """The discriminator on ``batch`` sequences of ``input_dim + output_dim`` steps."""
    model = _scaled(model)
    length, channels, total = input_dim + output_dim, 1, 0
    for filters, kernel in zip(model["discriminator_filters"], model["discriminator_kernels"], strict=True):
        length = math.ceil(length / 2)  # stride 2, 'same' padding
        total += conv1d_flops(batch, length, kernel, channels, filters)
        channels = filters
    width = length * channels
    for units in [*model["discriminator_dense"], 1]:
        total += dense_flops(batch, width, units)
        width = units
    return total


def gan_step_flops(model: dict[str, Any], batch: int, input_dim: int, features: int, output_dim: int = 1,
                   draws: int = 1) -> int:
    """One joint GAN step (``n_critic`` 1) with ``draws`` noise draws per window: a generator pass
    and a discriminator pass over ``batch * draws`` generated rows, one over the ``batch`` real
    ones, forward and backward."""
    forward = (generator_forward_flops(model, batch * draws, input_dim, features, output_dim)
               + discriminator_forward_flops(model, batch * draws, input_dim, output_dim)
               + discriminator_forward_flops(model, batch, input_dim, output_dim))
    return 3 * forward
