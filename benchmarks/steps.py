"""Training-step throughput: the project's step against a plain Keras GAN loop, same model and batch.

- ``plain``: the design's original way to train, a ``tf.function`` step with two
  ``GradientTape``s (TensorFlow's DCGAN tutorial), no distribution strategy,
  the design's networks;
- ``default``: the project's worker path, ``LSTMGAN.train_step`` through
  ``train.distributed_train_step`` under a one-worker MultiWorkerMirroredStrategy,
  fed by ``train.run_epoch`` as a Ray Train worker feeds it, default config;
- ``fast``: the same path with the ``fast`` profile; ``EXTRA_VARIANTS`` change it further.

Variants take turns in short rounds, so load from other processes falls on all of
them alike; a ratio is the median over rounds of two rates measured back to back.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.flops import gan_step_flops
from lstmgan_ray.config import Config, merge_sections, read_profile

# TensorFlow, Keras and the lstmgan_ray modules that import them are imported where used: the
# benchmark's command line stays quick, and TensorFlow loads after run_all has set its log level.

VARIANTS = ("plain", "default", "fast")
# The fast profile with one setting changed (``--variants``): what each of its parts is worth here.
EXTRA_VARIANTS = {
    "fast-fp32": {"train": {"mixed_precision": "off"}},
    "fast-xla": {"train": {"jit_compile": True}},
    "fast-fp32-xla": {"train": {"mixed_precision": "off", "jit_compile": True}},
    "default-xla": {"train": {"jit_compile": True}},
    "default-loop": {"train": {"unroll": False}},  # what unrolling the short windows is worth
}


@dataclass(frozen=True)
class Point:
    """One shape: window length, data features (noise channels come on top), global batch."""

    input_dim: int
    features: int
    batch: int

    def label(self) -> str:
        return f"T={self.input_dim} F={self.features} B={self.batch}"


def variant_config(variant: str, point: Point, model: dict[str, Any] | None = None) -> dict[str, Any]:
    """The resolved config of a variant at a point (``model`` overrides shrink the networks)."""
    raw = {"data": {"input_dim": point.input_dim}, "train": {"batch_size": point.batch},
           "model": dict(model or {})}
    if variant.startswith("fast"):
        raw = merge_sections(read_profile("fast"), raw)
    raw = merge_sections(raw, EXTRA_VARIANTS.get(variant, {}))
    return Config.from_dict(raw).to_dict()


def make_batches(point: Point, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` random batches shaped as the pipeline delivers them."""
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((point.batch, point.input_dim, point.features), dtype=np.float32),
             "y": rng.standard_normal((point.batch, 1), dtype=np.float32)} for _ in range(count)]


class PlainLoop:
    """The design's loop: one tf.function step, two tapes, Adam, BCE on logits + the supervised term,
    float32; K draws per window as the project takes them, so both do the same arithmetic."""

    name = "plain"

    def __init__(self, cfg: dict[str, Any], point: Point):
        import keras
        import tensorflow as tf

        from lstmgan_ray.model.losses import supervised_loss
        from lstmgan_ray.model.networks import build_models

        m, t = cfg["model"], cfg["train"]
        k, kind = t["samples_per_window"], t["supervised_loss"]  # the same draws and term as the project
        g, d = build_models(m, point.input_dim, 1, point.features)
        g_opt = keras.optimizers.Adam(t["g_learning_rate"], beta_1=t["beta_1"], beta_2=t["beta_2"])
        d_opt = keras.optimizers.Adam(t["d_learning_rate"], beta_1=t["beta_1"], beta_2=t["beta_2"])
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        noise_dim, target = m["noise_dim"], point.features - 1

        @tf.function
        def step(x, y):
            xk = tf.repeat(x, k, axis=0)
            noise = tf.random.normal([tf.shape(xk)[0], tf.shape(xk)[1], noise_dim])
            past = x[:, :, target]
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = g(tf.concat([xk, noise], axis=-1), training=True)
                real_out = d(tf.concat([past, y], axis=1)[:, :, None], training=True)
                fake_out = d(tf.concat([tf.repeat(past, k, axis=0), fake], axis=1)[:, :, None], training=True)
                g_loss = (bce(tf.ones_like(fake_out), fake_out)
                          + tf.reduce_mean(supervised_loss(y, tf.reshape(fake, [-1, k, 1]), kind)))
                d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
            g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g.trainable_variables), g.trainable_variables))
            d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d.trainable_variables), d.trainable_variables))
            return g_loss

        self._step = step

    def run(self, batches) -> None:
        import tensorflow as tf

        loss = None
        for b in batches:
            loss = self._step(tf.constant(b["x"]), tf.constant(b["y"]))
        float(loss)  # wait for the last step


class ProjectStep:
    """The project's worker path: ``build_gan`` under MWMS, ``distributed_train_step``, ``run_epoch``."""

    def __init__(self, name: str, cfg: dict[str, Any], point: Point, strategy):
        from lstmgan_ray.train.build import build_gan
        from lstmgan_ray.train.steps import distributed_train_step

        self.name, self.strategy, self.nonfinite = name, strategy, False
        scaler = {"features": [f"f{i}" for i in range(point.features)], "target_index": point.features - 1}
        with strategy.scope():
            self.gan = build_gan(cfg, scaler)
        self.step_fn = distributed_train_step(strategy, self.gan)

    def run(self, batches) -> None:
        from lstmgan_ray.train.steps import run_epoch

        logs, _ = run_epoch(self.strategy, self.step_fn, self.gan, batches, len(batches))  # reads the losses: waits
        # A variant whose losses went NaN is timed on garbage: say so instead of counting its speed.
        self.nonfinite = self.nonfinite or logs["first_nonfinite_step"] is not None


def timed(runner, batches) -> float:
    t0 = time.perf_counter()
    runner.run(batches)
    return time.perf_counter() - t0


def bench_point(point: Point, strategy, *, variants=VARIANTS, model: dict[str, Any] | None = None,
                steps: int = 4, rounds: int = 3, warmup: int = 2, keep: dict | None = None) -> dict[str, Any]:
    """Windows/s, ms/step and GFLOP/s of each variant at ``point``, and each one's ratio to ``plain``.

    Args:
        strategy: the MultiWorkerMirroredStrategy the project variants run under.
        model: model-section overrides (the smoke run shrinks the networks).
        steps, rounds: each round times ``steps`` steps of every variant, back to back.
        warmup: untimed steps first (the first one traces, and with XLA compiles).
        keep: if given, receives ``plain_rate``, a function that times the plain loop again
            (windows/s), so that a later measurement can be read against it at the same load.
    """
    batches = make_batches(point, max(steps, warmup))
    runners, first_step_s = [], {}
    for name in variants:
        cfg = variant_config(name, point, model)
        runner = PlainLoop(cfg, point) if name == "plain" else ProjectStep(name, cfg, point, strategy)
        first_step_s[name] = timed(runner, batches[:1])
        if warmup > 1:
            runner.run(batches[1:warmup])
        runners.append(runner)
    rates: dict[str, list[float]] = {r.name: [] for r in runners}
    for k in range(rounds):
        for runner in (runners if k % 2 == 0 else runners[::-1]):
            rates[runner.name].append(point.batch * steps / timed(runner, batches[:steps]))
    default = variant_config("default", point, model)
    flops = gan_step_flops(default["model"], point.batch, point.input_dim, point.features,
                           draws=default["train"]["samples_per_window"])
    out = {"point": {"input_dim": point.input_dim, "features": point.features, "batch": point.batch},
           "step_gflop": flops / 1e9, "variants": {}}
    for name in variants:
        wps = statistics.median(rates[name])
        entry = {"windows_per_s": wps, "ms_per_step": 1000 * point.batch / wps,
                 "gflops": flops / 1e9 * wps / point.batch, "first_step_s": first_step_s[name],
                 "rounds_windows_per_s": rates[name],
                 "nonfinite": bool(getattr(runners[list(variants).index(name)], "nonfinite", False))}
        if "plain" in rates and name != "plain":
            entry["vs_plain"] = statistics.median(a / b for a, b in zip(rates[name], rates["plain"]))
        out["variants"][name] = entry
    if keep is not None and "plain" in rates:
        plain = runners[list(variants).index("plain")]
        keep["plain_rate"] = lambda: statistics.median(
            point.batch * steps / timed(plain, batches[:steps]) for _ in range(rounds))
    del runners
    gc.collect()
    return out
