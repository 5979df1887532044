"""Batch generation with Ray Data: stochastic forecasts and synthetic paths from a checkpoint.

``map_batches`` with a callable class, so each actor of the pool loads the
generator once and then streams window batches through it; the pool size, the
batch size and the CPUs/GPUs per actor are options, and the same code runs on a
laptop's local Ray or a cluster.

Both modes are one autoregressive rollout (``rollout``): the generator forecasts
``output_dim`` target steps; they are appended to the window, with every other
feature held still (``inference_data.hold_rows``: zero change in the transformed
space, or the last level for untransformed features), and the window slides on.
``forecast`` rolls out ``horizon`` steps from every window of a split;
``synthesize`` rolls out whole paths from the first window of the split of each
series. Values are returned in original units through ``gan.next_values_to_prices``.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from lstmgan_ray.config import ConfigError
from lstmgan_ray.data import SPLITS, DataError

MODES = ("forecast", "synthesize")
SPLIT_CHOICES = (*SPLITS, "all")
OUTPUT_COLUMNS = ("series_id", "split", "origin", "timestamp", "step", "path", "value", "point", "actual")


def rollout(step_fn: Callable[[np.ndarray, int], np.ndarray], x: np.ndarray, hold: np.ndarray,
            steps: int, target_index: int) -> np.ndarray:
    """Feed a forecaster its own output for ``steps`` target steps.

    Args:
        step_fn: ``(windows [N, T, F], rollout_index) -> [N, d]`` scaled next target values.
        x: ``[N, T, F]`` scaled windows.
        hold: ``[N, F]`` the scaled row appended for the non-target features at each step.
        steps: target steps wanted; the last call's surplus is dropped.
        target_index: the target's position among the features.
    Returns:
        ``[N, steps]`` scaled transformed target values.
    """
    window = np.asarray(x, np.float32)
    hold = np.asarray(hold, np.float32)
    length, out, made, index = window.shape[1], [], 0, 0
    while made < steps:
        y = np.asarray(step_fn(window, index), np.float32)
        new = np.repeat(hold[:, None, :], y.shape[1], axis=1)
        new[:, :, target_index] = y
        window = np.concatenate([window, new], axis=1)[:, -length:]
        out.append(y)
        made += y.shape[1]
        index += 1
    return np.concatenate(out, axis=1)[:, :steps] if out else np.zeros((len(window), 0), np.float32)


def to_original_units(values: np.ndarray, last: np.ndarray, mu: np.ndarray, sd: np.ndarray,
                      transform: str) -> np.ndarray:
    """Scaled transformed target steps -> original units (``gan.next_values_to_prices`` on NumPy)."""
    import tensorflow as tf

    from lstmgan_ray.gan import next_values_to_prices

    return next_values_to_prices(tf.constant(values), tf.constant(last, tf.float64), tf.constant(mu, tf.float64),
                                 tf.constant(sd, tf.float64), transform).numpy()


def batch_seed(series_id: str, origin: Any) -> int:
    """A per-batch noise seed from its first window: a rerun with the same data, seed and batch size
    draws the same paths, whichever actor gets the batch."""
    return zlib.crc32(f"{series_id}|{np.datetime64(origin, 'us').astype(np.int64)}".encode())


class GeneratorActor:
    """Ray Data callable class: loads a checkpoint's generator once, rolls out every batch it gets.

    Args:
        checkpoint: the checkpoint directory (read by each actor; on a cluster, storage every node reaches).
        paths: stochastic paths per window.
        horizon: target steps per path.
        seed: base of the stateless noise draws.
        noise_scale: multiplies the generator's noise input (1: as trained).
        point: also roll out the zero-noise path (the point forecast); forecasts want it, long
            synthetic paths would pay a second sequential rollout for it.
    """

    def __init__(self, checkpoint: str, *, paths: int, horizon: int, seed: int = 0, noise_scale: float = 1.0,
                 point: bool = True):
        import tensorflow as tf

        from lstmgan_ray.checkpoint import load_checkpoint
        from lstmgan_ray.gan import LSTMGAN

        loaded = load_checkpoint(checkpoint)
        self.transform = loaded.config["data"]["target_transform"]
        self.target_index = int(loaded.scaler["target_index"])
        self.paths, self.horizon, self.seed, self.point = int(paths), int(horizon), int(seed), bool(point)
        gan = LSTMGAN(loaded.generator, loaded.discriminator, target_index=self.target_index,
                      noise_dim=loaded.config["model"]["noise_dim"], target_transform=self.transform, seed=seed)
        self._sample = tf.function(lambda w, s: gan.generate(w, seed=s, noise_scale=noise_scale),
                                   reduce_retracing=True)
        self._mode = tf.function(lambda w: gan.generate(w, noise_scale=0.0), reduce_retracing=True)

    def paths_for(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``([N, K, H], [N, H] or None)``: the K sampled paths and the zero-noise path, original units."""
        import tensorflow as tf

        n, k = len(batch["last"]), self.paths
        key = batch_seed(str(batch["series_id"][0]), batch["origin"][0]) if n else 0

        def sample(windows, index):
            return self._sample(tf.constant(windows), tf.constant([self.seed, key * 4096 + index], tf.int64))

        def mode(windows, _index):
            return self._mode(tf.constant(windows))

        def units(values, repeat):
            return to_original_units(values, *(np.repeat(batch[c], repeat) for c in ("last", "mu", "sd")),
                                     self.transform)

        sampled = rollout(sample, np.repeat(batch["x"], k, axis=0), np.repeat(batch["hold"], k, axis=0),
                          self.horizon, self.target_index)
        if not self.point:
            return units(sampled, k).reshape(n, k, self.horizon), None
        central = rollout(mode, batch["x"], batch["hold"], self.horizon, self.target_index)
        return units(sampled, k).reshape(n, k, self.horizon), units(central, 1)

    def __call__(self, batch: dict[str, np.ndarray]):
        sampled, central = self.paths_for(batch)
        return long_rows(batch, sampled, central)


def long_rows(batch: dict[str, np.ndarray], sampled: np.ndarray, central: np.ndarray | None):
    """The output table: one row per window x path x step (see ``OUTPUT_COLUMNS``); null where unknown."""
    import pyarrow as pa

    n, k, h = sampled.shape
    w = np.repeat(np.arange(n), k * h)
    step = np.tile(np.arange(h), n * k)
    actual = batch["future_actual"][w, step]
    point = central[w, step] if central is not None else np.full(len(w), np.nan)
    return pa.table({
        "series_id": pa.array(batch["series_id"][w].astype(str), pa.string()),
        "split": pa.array(batch["split"][w].astype(str), pa.string()),
        "origin": pa.array(batch["origin"].astype("datetime64[us]")[w], pa.timestamp("us")),
        "timestamp": pa.array(batch["future_time"][w, step].astype("datetime64[ns]").astype("datetime64[us]"),
                              pa.timestamp("us")),
        "step": pa.array(step + 1, pa.int32()),
        "path": pa.array(np.tile(np.repeat(np.arange(k), h), n), pa.int32()),
        "value": pa.array(sampled.reshape(-1), pa.float64()),
        "point": pa.array(point, pa.float64(), mask=np.isnan(point)),
        "actual": pa.array(actual, pa.float64(), mask=np.isnan(actual)),
    })


def generate_dataset(windows, checkpoint: str, *, paths: int, horizon: int, seed: int = 0,
                     noise_scale: float = 1.0, point: bool = True, batch_size: int = 128, concurrency: int = 1,
                     num_cpus: float = 1.0, num_gpus: float = 0.0):
    """The lazy Ray Dataset of generated rows for a dataset of inference windows.

    Args:
        windows: from ``inference_data.window_dataset``.
        batch_size: windows per actor call (the generator sees ``batch_size * paths`` rows).
        concurrency: actors in the pool, each holding one copy of the generator.
        num_cpus, num_gpus: resources reserved per actor.
    """
    from ray.data import ActorPoolStrategy

    return windows.map_batches(
        GeneratorActor, fn_constructor_args=(checkpoint,),
        fn_constructor_kwargs={"paths": paths, "horizon": horizon, "seed": seed, "noise_scale": noise_scale,
                               "point": point},
        batch_size=batch_size, batch_format="numpy", compute=ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus, num_gpus=num_gpus or None)


def check_options(mode: str, paths: int, horizon: int | None, split: str, batch_size: int, concurrency: int,
                  num_cpus: float, num_gpus: float) -> None:
    """All option problems at once, before anything is read."""
    problems = []
    if mode not in MODES:
        problems.append(f"--mode {mode!r}: use one of {', '.join(MODES)}")
    if split not in SPLIT_CHOICES:
        problems.append(f"--split {split!r}: use one of {', '.join(SPLIT_CHOICES)}")
    for name, value, low in (("--paths", paths, 1), ("--horizon", horizon, 1), ("--batch-size", batch_size, 1),
                             ("--concurrency", concurrency, 1)):
        if value is not None and value < low:
            problems.append(f"{name} must be >= {low}, got {value}")
    if num_cpus < 0 or num_gpus < 0 or num_cpus + num_gpus <= 0:
        problems.append(f"--num-cpus {num_cpus:g} / --num-gpus {num_gpus:g}: an actor needs a positive amount")
    if problems:
        raise ConfigError("invalid options:\n  " + "\n  ".join(problems))


def start_inference(inputs, *, concurrency: int = 1, num_cpus: float = 1.0, num_gpus: float = 0.0):
    """Start (or join) Ray, check the actor pool fits, scan the series; returns their scalers.

    Everything between the file checks (``inference_data.open_inputs``) and the first window;
    shared by ``run_generate`` and ``evaluate``.
    """
    import os

    from lstmgan_ray.inference_data import check_actor_resources, series_scalers
    from lstmgan_ray.train import init_ray

    local = init_ray() or not os.environ.get("RAY_ADDRESS")
    check_actor_resources(concurrency, num_cpus, num_gpus, local=local)
    return series_scalers(inputs)


def count_windows(windows, inputs, what: str) -> int:
    """Raise DataError when a window dataset came out empty; else its size."""
    count = windows.count()
    if count == 0:
        raise DataError(f"{inputs.data_cfg['path']}: no windows of "
                        f"{inputs.spec['input_dim'] + inputs.spec['output_dim']} steps in the {what} of any series")
    return count


def run_generate(checkpoint: str, data: str | None, out: str, *, mode: str = "forecast", paths: int = 100,
                 horizon: int | None = None, split: str = "test", seed: int = 0, batch_size: int = 128,
                 concurrency: int = 1, num_cpus: float = 1.0, num_gpus: float = 0.0, overwrite: bool = False,
                 verbose: bool = True) -> dict[str, Any]:
    """Generate forecasts or synthetic paths and write them as Parquet; returns the summary.

    Args:
        checkpoint: checkpoint directory.
        data: Parquet file, directory or URI (``None``: the checkpoint's ``data.path``).
        out: output directory or URI; refused when it holds files unless ``overwrite``.
        mode: ``forecast`` (every window of the split) or ``synthesize`` (one seed window per series).
        paths: stochastic paths per window.
        horizon: steps per path; default ``output_dim`` (forecast) or to the end of the data (synthesize).
        split: ``test`` (default), ``train``, ``val`` or ``all``.
        seed: base of the noise draws; the same inputs and seed give the same paths.
        batch_size, concurrency, num_cpus, num_gpus: see ``generate_dataset``.
    """
    from lstmgan_ray.inference_data import (
        claim_output,
        open_inputs,
        resolve_path,
        steps_to_end,
        window_dataset,
    )

    check_options(mode, paths, horizon, split, batch_size, concurrency, num_cpus, num_gpus)
    started = time.perf_counter()
    inputs = open_inputs(checkpoint, data)
    out = resolve_path(out)
    claim_output(out, overwrite)  # after the inputs are known good: --overwrite never empties it for nothing
    scalers = start_inference(inputs, concurrency=concurrency, num_cpus=num_cpus, num_gpus=num_gpus)
    T = inputs.spec["input_dim"]
    if horizon is None:
        horizon = inputs.spec["output_dim"] if mode == "forecast" else steps_to_end(scalers, split, T)
    if horizon < 1:
        raise DataError(f"{inputs.data_cfg['path']}: the {split} split leaves no steps after a {T}-step seed window")
    windows = window_dataset(inputs, scalers, splits=SPLITS if split == "all" else (split,), horizon=horizon,
                             first_only=mode == "synthesize")
    n_windows = count_windows(windows, inputs, f"{split} split")
    if verbose:
        print(f"{mode}: {n_windows} {'seed ' if mode == 'synthesize' else ''}window(s) of the {split} split from "
              f"{len(scalers)} series; {paths} path(s) of {horizon} step(s) each, {concurrency} actor(s), "
              f"batches of {batch_size}", flush=True)
    rows = generate_dataset(windows, inputs.checkpoint, paths=paths, horizon=horizon, seed=seed,
                            point=mode == "forecast", batch_size=batch_size, concurrency=concurrency,
                            num_cpus=num_cpus, num_gpus=num_gpus).materialize()
    count = rows.count()
    rows.write_parquet(out)
    seconds = time.perf_counter() - started
    if verbose:
        print(f"{mode}: wrote {count} rows to {out} in {seconds:.1f}s", flush=True)
    return {"out": out, "mode": mode, "rows": int(count), "windows": int(n_windows), "paths": paths,
            "horizon": int(horizon), "split": split, "series": len(scalers), "checkpoint": inputs.checkpoint,
            "seconds": round(seconds, 2)}
