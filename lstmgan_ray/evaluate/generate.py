"""Batch generation with Ray Data: stochastic forecasts and synthetic paths from a checkpoint.

``map_batches`` with a callable class, so each actor of the pool loads the
generator once and then streams window batches through it; the pool size, the
batch size and the CPUs/GPUs per actor are options, and the same code runs on a
laptop's local Ray or a cluster.

Both modes are one autoregressive rollout (``rollout``): the generator forecasts
``output_dim`` target steps; they are appended to the window, with every other
feature held still (``data.inference.hold_rows``: zero change in the transformed
space, or the last level for untransformed features), and the window slides on.
``forecast`` rolls out ``horizon`` steps from every window of a split;
``synthesize`` rolls out whole paths from the first window of the split of each
series. Values are returned in original units through ``model.gan.next_values_to_prices``.
"""

from __future__ import annotations

import os
import tempfile
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import ray
import tensorflow as tf
from ray.data import ActorPoolStrategy

from lstmgan_ray.data.contract import SPLITS
from lstmgan_ray.data.inference import (
    InferenceInputs,
    check_actor_resources,
    series_scalers,
    steps_to_end,
    window_dataset,
)
from lstmgan_ray.data.windows import VolFilter, vol_channel, vol_filter
from lstmgan_ray.errors import ConfigError, DataError
from lstmgan_ray.evaluate.inputs import open_inputs
from lstmgan_ray.evaluate.options import ActorOptions, GenerateOptions
from lstmgan_ray.model.gan import LSTMGAN, next_values_to_prices
from lstmgan_ray.storage import claim_output, is_uri, join, read_bytes, resolve_path, staged_output
from lstmgan_ray.train.checkpoint import REQUIRED_FILES, LoadedCheckpoint, load_checkpoint
from lstmgan_ray.train.driver import init_ray
from lstmgan_ray.train.feed import FeedPrinter

OUTPUT_COLUMNS = ("series_id", "split", "origin", "timestamp", "step", "path", "value", "point", "actual")


def rollout(step_fn: Callable[[np.ndarray, int], np.ndarray], x: np.ndarray, hold: np.ndarray,
            steps: int, target_index: int, vol: np.ndarray | None = None,
            vol_filter: VolFilter | None = None, vol_index: int | None = None) -> np.ndarray:
    """Feed a forecaster its own output for ``steps`` target steps.

    Args:
        step_fn: ``(windows [N, T, F], rollout_index) -> [N, d]`` scaled next target values.
        x: ``[N, T, F]`` scaled windows.
        hold: ``[N, F]`` the scaled row appended for the non-target features at each step.
        steps: target steps wanted; the last call's surplus is dropped.
        target_index: the target's position among the features.
        vol: ``[N]`` what each window's target steps were divided by (``data.windows.window_vols``),
            and ``vol_filter`` the filter that made it: with both, the volatility is carried forward
            through the generated values, and every window shown to ``step_fn`` is divided by its
            own, as in training. ``vol_index``: the channel holding the log volatility after each
            step (``data.vol_input``), written from the carried-forward volatility.
    Returns:
        ``[N, steps]`` scaled transformed target values (in the series' scale, not divided by ``vol``).
    """
    window = np.array(x, np.float32)
    hold = np.asarray(hold, np.float32)
    scale = np.ones(len(window)) if vol is None else np.asarray(vol, np.float64)
    window[:, :, target_index] *= scale[:, None].astype(np.float32)
    length, out, made, index = window.shape[1], [], 0, 0
    while made < steps:
        shown = window.copy()
        shown[:, :, target_index] /= scale[:, None].astype(np.float32)
        y = np.asarray(step_fn(shown, index), np.float32) * scale[:, None].astype(np.float32)
        new = np.repeat(hold[:, None, :], y.shape[1], axis=1)
        new[:, :, target_index] = y
        if vol_filter is not None:
            for j in range(y.shape[1]):
                scale = vol_filter.step(scale, y[:, j])
                if vol_index is not None:
                    new[:, j, vol_index] = np.log(scale)
        window = np.concatenate([window, new], axis=1)[:, -length:]
        out.append(y)
        made += y.shape[1]
        index += 1
    return np.concatenate(out, axis=1)[:, :steps] if out else np.zeros((len(window), 0), np.float32)


def to_original_units(values: np.ndarray, last: np.ndarray, mu: np.ndarray, sd: np.ndarray,
                      transform: str) -> np.ndarray:
    """Scaled transformed target steps -> original units, through the very function training validates with
    (``model.gan.next_values_to_prices``), so inference and training cannot disagree on the inversion."""
    return next_values_to_prices(tf.constant(values), tf.constant(last, tf.float64), tf.constant(mu, tf.float64),
                                 tf.constant(sd, tf.float64), transform).numpy()


def batch_seed(series_id: str, origin: Any) -> int:
    """A per-batch noise seed from its first window: a rerun with the same data, seed and batch size
    draws the same paths, whichever actor gets the batch."""
    return zlib.crc32(f"{series_id}|{np.datetime64(origin, 'us').astype(np.int64)}".encode())


class GeneratorActor:
    """Ray Data callable class: loads a checkpoint's generator once, rolls out every batch it gets.

    Args:
        checkpoint: ``checkpoint_source``: a URI, which each actor downloads once, or a local
            checkpoint's files in Ray's object store (an actor may run on a node without the
            driver's disk).
        paths: stochastic paths per window.
        horizon: target steps per path.
        seed: base of the stateless noise draws.
        noise_scale: multiplies the generator's noise input (1: as trained).
        point: also roll out the zero-noise path (the point forecast); forecasts want it, long
            synthetic paths would pay a second sequential rollout for it.
    """

    def __init__(self, checkpoint: str | dict[str, Any], *, paths: int, horizon: int, seed: int = 0,
                 noise_scale: float = 1.0, point: bool = True, feed=None):
        loaded = open_source(checkpoint)
        self.feed = feed  # the driver's console feed (windows done), or None
        self.transform = loaded.config["data"]["target_transform"]
        self.target_index = int(loaded.scaler["target_index"])
        self.paths, self.horizon, self.seed, self.point = int(paths), int(horizon), int(seed), bool(point)
        self.vol_filter = vol_filter(loaded.config["data"])
        self.vol_index = vol_channel(loaded.config["data"], len(loaded.scaler["features"]))
        gan = LSTMGAN(loaded.generator, loaded.discriminator, target_index=self.target_index,
                      noise_dim=loaded.config["model"]["noise_dim"], target_transform=self.transform, seed=seed,
                      noise_dof=loaded.config["model"].get("noise_dof"))
        self._sample = tf.function(lambda w, s: gan.generate(w, seed=s, noise_scale=noise_scale),
                                   reduce_retracing=True)
        self._mode = tf.function(lambda w: gan.generate(w, noise_scale=0.0), reduce_retracing=True)

    def paths_for(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``([N, K, H], [N, H] or None)``: the K sampled paths and the zero-noise path, original units."""
        n, k = len(batch["last"]), self.paths
        key = batch_seed(str(batch["series_id"][0]), batch["origin"][0]) if n else 0

        def sample(windows, index):
            return self._sample(tf.constant(windows), tf.constant([self.seed, key * 4096 + index], tf.int64))

        def mode(windows, _index):
            return self._mode(tf.constant(windows))

        def units(values, repeat):
            return to_original_units(values, *(np.repeat(batch[c], repeat) for c in ("last", "mu", "sd")),
                                     self.transform)

        vol = batch.get("vol", np.ones(n))
        sampled = rollout(sample, np.repeat(batch["x"], k, axis=0), np.repeat(batch["hold"], k, axis=0),
                          self.horizon, self.target_index, np.repeat(vol, k), self.vol_filter, self.vol_index)
        if not self.point:
            return units(sampled, k).reshape(n, k, self.horizon), None
        central = rollout(mode, batch["x"], batch["hold"], self.horizon, self.target_index, vol, self.vol_filter,
                          self.vol_index)
        return units(sampled, k).reshape(n, k, self.horizon), units(central, 1)

    def __call__(self, batch: dict[str, np.ndarray]):
        sampled, central = self.paths_for(batch)
        if self.feed is not None:
            self.feed.put.remote({"add": len(batch["last"])})
        return long_rows(batch, sampled, central)


def checkpoint_source(checkpoint: str) -> str | dict[str, Any]:
    """What the actors load: a URI as it is (every node reads it), or a local checkpoint's files put
    into Ray's object store once, since on a cluster an actor may land on a node without that path."""
    if is_uri(checkpoint):
        return checkpoint
    files = {name: read_bytes(join(checkpoint, name)) for name in REQUIRED_FILES}
    return {"path": checkpoint, "files": ray.put(files)}


def open_source(source: str | dict[str, Any]) -> LoadedCheckpoint:
    """Load a ``checkpoint_source`` once (an actor's constructor): a URI is downloaded, shipped files are
    written to a temporary directory; either is deleted once the networks are in memory."""
    if isinstance(source, str):
        return load_checkpoint(source)
    with tempfile.TemporaryDirectory(prefix="lstmgan-checkpoint-") as tmp:
        for name, body in ray.get(source["files"]).items():
            with open(os.path.join(tmp, name), "wb") as fh:
                fh.write(body)
        return load_checkpoint(tmp, shown_as=source["path"])  # named as the user gave it, not as the copy


def long_rows(batch: dict[str, np.ndarray], sampled: np.ndarray, central: np.ndarray | None):
    """The output table: one row per window x path x step (see ``OUTPUT_COLUMNS``); null where unknown."""
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
                     num_cpus: float = 1.0, num_gpus: float = 0.0, feed=None):
    """The lazy Ray Dataset of generated rows for a dataset of inference windows.

    Args:
        windows: from ``data.inference.window_dataset``.
        batch_size: windows per actor call (the generator sees ``batch_size * paths`` rows).
        concurrency: actors in the pool, each holding one copy of the generator.
        num_cpus, num_gpus: resources reserved per actor.
        feed: a ``train.feed.ConsoleFeed`` the actors count their windows into, or None.
    """
    return windows.map_batches(
        GeneratorActor, fn_constructor_args=(checkpoint_source(checkpoint),),
        fn_constructor_kwargs={"paths": paths, "horizon": horizon, "seed": seed, "noise_scale": noise_scale,
                               "point": point, "feed": feed},
        batch_size=batch_size, batch_format="numpy", compute=ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus, num_gpus=num_gpus or None)


# -- the stages shared with evaluate ---------------------------------------------------

def claim_out(out: str, overwrite: bool) -> str:
    """``out`` resolved and claimed: refused when it holds files unless ``overwrite``. Nothing is deleted
    here: the job writes into a staging directory beside it and swaps it in once complete
    (``storage.staged_output``), so a job that fails leaves what ``out`` held untouched."""
    out = resolve_path(out)
    try:
        claim_output(out, overwrite=overwrite,
                     refusal=f"--out {out}: already holds files; pass --overwrite to replace them or choose another")
    except ConfigError as err:
        if str(err).startswith("--out "):
            raise
        raise ConfigError(f"--out {err}") from None  # a file, named as the flag that gave it
    return out


def start_inference(inputs: InferenceInputs, options: ActorOptions) -> dict[str, dict[str, Any]]:
    """Start (or join) Ray, check the actor pool fits, scan the series; returns their scalers.

    Everything between the file checks (``evaluate.inputs.open_inputs``) and the first window.
    """
    local = init_ray() or not os.environ.get("RAY_ADDRESS")
    check_actor_resources(options.concurrency, options.num_cpus, options.num_gpus, local=local)
    return series_scalers(inputs)


def count_windows(windows, inputs: InferenceInputs, what: str) -> int:
    """Raise DataError when a window dataset came out empty; else its size."""
    count = windows.count()
    if count == 0:
        raise DataError(f"{inputs.data_cfg['path']}: no windows of "
                        f"{inputs.spec['input_dim'] + inputs.spec['output_dim']} steps in the {what} of any series")
    return count


# -- generate's own stages -------------------------------------------------------------

def generation_horizon(inputs: InferenceInputs, scalers: dict[str, dict[str, Any]], options: GenerateOptions) -> int:
    """Steps per path: the option, else ``output_dim`` (forecast) or to the end of the data (synthesize)."""
    T = inputs.spec["input_dim"]
    horizon = options.horizon
    if horizon is None:
        horizon = inputs.spec["output_dim"] if options.mode == "forecast" else steps_to_end(scalers, options.split, T)
    if horizon < 1:
        raise DataError(f"{inputs.data_cfg['path']}: the {options.split} split leaves no steps after a "
                        f"{T}-step seed window")
    return horizon


def write_paths(windows, inputs: InferenceInputs, options: GenerateOptions, horizon: int, out: str,
                feed=None) -> int:
    """Roll out every window through the actor pool and write the rows as Parquet; returns the row count.

    Materialised before writing so the count is of the rows written, without a second rollout.
    """
    rows = generate_dataset(windows, inputs.checkpoint, paths=options.paths, horizon=horizon,
                            point=options.mode == "forecast", feed=feed, **options.actors()).materialize()
    count = rows.count()
    rows.write_parquet(out)
    return int(count)


def run_generate(checkpoint: str, data: str | None, out: str, options: GenerateOptions | None = None, *,
                 inputs: InferenceInputs | None = None, verbose: bool = True) -> dict[str, Any]:
    """Generate forecasts or synthetic paths and write them as Parquet; returns the summary.

    Args:
        checkpoint: checkpoint directory.
        data: Parquet file, directory or URI (``None``: the checkpoint's ``data.path``).
        out: output directory or URI; refused when it holds files unless ``options.overwrite``, and
            replaced only when the new output is complete.
        options: see ``GenerateOptions`` (default: all defaults).
        inputs: ``open_inputs(checkpoint, data)`` when the caller has already checked them.
    """
    o = options or GenerateOptions()
    started = time.perf_counter()
    inputs = inputs or open_inputs(checkpoint, data)
    out = claim_out(out, o.overwrite)
    scalers = start_inference(inputs, o)
    horizon = generation_horizon(inputs, scalers, o)
    windows = window_dataset(inputs, scalers, splits=SPLITS if o.split == "all" else (o.split,), horizon=horizon,
                             first_only=o.mode == "synthesize")
    n_windows = count_windows(windows, inputs, f"{o.split} split")
    if verbose:
        print(f"{o.mode}: {n_windows} {'seed ' if o.mode == 'synthesize' else ''}window(s) of the {o.split} split "
              f"from {len(scalers)} series; {o.paths} path(s) of {horizon} step(s) each, {o.concurrency} "
              f"actor(s), batches of {o.batch_size}", flush=True)
    with staged_output(out) as staged, FeedPrinter() as printer:
        if verbose:
            printer.track(o.mode, n_windows)
        count = write_paths(windows, inputs, o, horizon, staged, feed=printer.feed if verbose else None)
    seconds = time.perf_counter() - started
    if verbose:
        print(f"{o.mode}: wrote {count} rows to {out} in {seconds:.1f}s", flush=True)
    return {"out": out, "mode": o.mode, "rows": count, "windows": int(n_windows), "paths": o.paths,
            "horizon": int(horizon), "split": o.split, "series": len(scalers), "checkpoint": inputs.checkpoint,
            "seconds": round(seconds, 2)}
