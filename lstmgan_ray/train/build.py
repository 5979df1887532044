"""Assembling the compiled ``LSTMGAN`` for a worker from the typed config and the fitted scaler."""

from __future__ import annotations

from typing import Any

import keras

from lstmgan_ray.config import Config
from lstmgan_ray.data.windows import window_channels
from lstmgan_ray.model.gan import LSTMGAN, SyncedLossScaleOptimizer
from lstmgan_ray.model.networks import build_models
from lstmgan_ray.train.precision import (
    cpu_bfloat16_for_auto,
    gpu_visible,
    precision_policy,
    use_unroll,
    use_xla,
)


def build_gan(cfg: Config | dict[str, Any], scaler: dict[str, Any]) -> LSTMGAN:
    """The compiled LSTMGAN for a config and fitted scaler (call it inside a strategy scope).

    Applies the speed settings of ``cfg.train``: the mixed-precision policy (float16 gets
    loss scaling whose skip decision all workers share), XLA, unrolling, and the learning-rate rule.
    """
    cfg = cfg if isinstance(cfg, Config) else Config.from_dict(cfg)
    d, t = cfg.data, cfg.train
    on_gpu = cfg.run.use_gpu and gpu_visible()
    policy = precision_policy(t.mixed_precision, on_gpu, cpu_bfloat16_for_auto())
    xla = use_xla(t.jit_compile, on_gpu)
    # An explicit jit_compile=true compiles the LSTMs too, so they keep the generic kernel.
    use_cudnn = False if xla is True else "auto"
    cudnn = on_gpu and use_cudnn == "auto" and not cfg.model.recurrent_dropout
    generator, discriminator = build_models(cfg.model, d.input_dim, d.output_dim,
                                            window_channels(d.model_dump(mode="json"), len(scaler["features"])),
                                            dtype=policy, use_cudnn=use_cudnn,
                                            unroll=use_unroll(t.unroll, d.input_dim, cudnn))
    gan = LSTMGAN(generator, discriminator, target_index=scaler["target_index"], noise_dim=cfg.model.noise_dim,
                  target_transform=d.target_transform, seed=t.seed, noise_dof=cfg.model.noise_dof)

    def adam(lr):
        opt = keras.optimizers.Adam(learning_rate=lr, beta_1=t.beta_1, beta_2=t.beta_2)
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
        return SyncedLossScaleOptimizer(opt) if policy == "mixed_float16" else opt

    g_lr, d_lr = t.learning_rates()
    gan.compile(adam(d_lr), adam(g_lr), global_batch_size=t.batch_size, loss=t.loss, n_critic=t.n_critic,
                gp_weight=t.gp_weight, supervised_loss=t.supervised_loss,
                supervised_weight=t.supervised_weight, samples_per_window=t.samples_per_window, jit_compile=xla)
    gan.build_optimizers()
    return gan
