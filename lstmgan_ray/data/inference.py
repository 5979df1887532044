"""Windows for inference: the training pipeline's windows, cut with a checkpoint's scaler.

A generator only makes sense on inputs scaled the way it was trained, so
``generate`` and ``evaluate`` do not refit the scaler on the data they are given:
for every series the checkpoint knows, windows use its scaler and its split
boundaries (row counts from the series' start; rows past the checkpoint's data
fall into the test split, so newly arrived bars are out of sample). A series
the checkpoint has never seen is scaled on its own training split, as training
would have done, with a warning. Everything else (reading, grouping, the
per-series transform and windowing) is the training pipeline's own code.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import ray

from lstmgan_ray.data.contract import SPLITS
from lstmgan_ray.data.pipeline import configure_ray_data, read_bars, stats_udf
from lstmgan_ray.data.windows import prepare_series, series_windows
from lstmgan_ray.errors import ConfigError, DataError

log = logging.getLogger(__name__)

LEVEL_TRANSFORMS = ("none",)  # features used as levels, not per-step changes


@dataclass
class InferenceInputs:
    """A verified checkpoint and a validated dataset that fit each other (no Ray, no TensorFlow yet)."""

    checkpoint: str
    config: dict[str, Any]
    scaler: dict[str, Any]
    state: dict[str, Any]
    data_cfg: dict[str, Any]
    spec: dict[str, Any]
    num_files: int
    num_rows: int
    read_columns: list[str]


def check_actor_resources(concurrency: int, num_cpus: float, num_gpus: float, local: bool) -> None:
    """On a local Ray instance an actor pool larger than the machine would wait forever: refuse it."""
    if not local:
        return
    have = ray.cluster_resources()
    problems = []
    if concurrency * num_cpus > have.get("CPU", 0):
        problems.append(f"--concurrency {concurrency} x --num-cpus {num_cpus:g} needs {concurrency * num_cpus:g} "
                        f"CPUs; this machine's Ray has {have.get('CPU', 0):g}")
    if concurrency * num_gpus > have.get("GPU", 0):
        problems.append(f"--concurrency {concurrency} x --num-gpus {num_gpus:g} needs {concurrency * num_gpus:g} "
                        f"GPUs; this machine's Ray has {have.get('GPU', 0):g}")
    if problems:
        raise ConfigError("not enough resources on the local Ray instance (set RAY_ADDRESS to use a "
                          "cluster):\n  " + "\n  ".join(problems))


# -- pure per-series pieces --------------------------------------------------------

def merge_scaler(saved: dict[str, Any] | None, fresh: dict[str, Any]) -> dict[str, Any]:
    """One series' scaler and split sizes for inference: the checkpoint's where it has them.

    ``fresh`` is ``data.series_stats`` of the series as it is now. Split boundaries are the
    checkpoint's row counts, clamped to the rows present; whatever lies beyond is test.
    """
    if saved is None:
        return fresh
    rows = fresh["rows"]
    n_train = min(saved["n_train"], rows)
    n_val = min(saved["n_val"], rows - n_train)
    return {**fresh, "mean": saved["mean"], "std": saved["std"], "n_train": n_train, "n_val": n_val,
            "n_test": rows - n_train - n_val}


def hold_rows(x: np.ndarray, mean: np.ndarray, std: np.ndarray, transforms: list[str]) -> np.ndarray:
    """The scaled feature row that means "nothing changed", one per window, for multi-step rollouts.

    The generator forecasts only the target; its other inputs are held still: a feature
    given as per-step changes (log returns, differences) gets a change of zero, which is
    ``-mean / std`` once scaled; a feature used as a level (transform ``none``) repeats
    the window's last value.
    """
    zero_change = (-np.asarray(mean, np.float64) / np.asarray(std, np.float64)).astype(np.float32)
    hold = np.broadcast_to(zero_change, (len(x), len(zero_change))).copy()
    level = np.array([t in LEVEL_TRANSFORMS for t in transforms])
    if level.any() and len(x):
        hold[:, level] = x[:, -1, level]
    return hold


def extend_timestamps(times: np.ndarray, count: int) -> np.ndarray:
    """``count`` timestamps after the last of ``times``, at the series' own spacing.

    The frequency pandas infers from the last 64 steps; failing that (market holidays),
    business days when the data step daily and never fall on a weekend, else the
    median spacing.
    """
    if count <= 0:
        return np.zeros(0, "datetime64[us]")
    recent = pd.DatetimeIndex(times[-64:])
    freq = pd.infer_freq(recent) if len(recent) >= 3 else None
    if freq is None:
        step = recent.to_series().diff().median() if len(recent) > 1 else pd.Timedelta(days=1)
        weekdays_only = (recent.dayofweek < 5).all()
        freq = pd.offsets.BDay() if step == pd.Timedelta(days=1) and weekdays_only else step
    return pd.date_range(recent[-1], periods=count + 1, freq=freq)[1:].to_numpy("datetime64[us]")


def inference_windows(df: pd.DataFrame, spec: dict[str, Any], stats: dict[str, Any], *,
                      splits: tuple[str, ...], first_only: bool, horizon: int) -> dict[str, np.ndarray]:
    """One series' windows in ``splits`` (all, or only the first), with what a rollout needs.

    Adds to ``data.series_windows``' columns: ``origin`` (the window's last observed time),
    ``hold`` (see ``hold_rows``), and for the ``horizon`` steps ahead ``future_time``
    (ns since the epoch; extrapolated past the data) and ``future_actual`` (original units,
    NaN past the data).
    """
    prepared = prepare_series(df, spec)
    out = series_windows(df, spec, stats, prepared)
    keep = np.isin(out["split"].astype(str), splits)
    if first_only:
        keep &= np.arange(len(keep)) == (np.argmax(keep) if keep.any() else -1)
    out = {k: v[keep] for k, v in out.items()}
    times = prepared[spec["timestamp_column"]].to_numpy("datetime64[us]")
    raw = prepared["_raw_target"].to_numpy(np.float64)
    start = np.searchsorted(times, out["timestamp"].astype("datetime64[us]"))
    all_times = np.concatenate([times, extend_timestamps(times, horizon)])
    ahead = start[:, None] + np.arange(horizon)[None, :]
    out["origin"] = times[start - 1]
    out["future_time"] = all_times[ahead].astype("datetime64[ns]").astype(np.int64)
    padded = np.concatenate([raw, np.full(horizon, np.nan)])
    out["future_actual"] = padded[ahead]
    n = len(spec["features"])
    hold = hold_rows(out["x"][:, :, :n], stats["mean"], stats["std"], [spec["transforms"][c] for c in spec["features"]])
    # The volatility channel (data.vol_input) is not held: rollouts write it from generated values.
    out["hold"] = np.concatenate([hold, out["x"][:, -1, n:]], axis=1)
    out["series_id"] = np.full(len(out["last"]), str(df[spec["series_column"]].iloc[0]), dtype=object)
    out["timestamp"] = out["timestamp"].astype("datetime64[us]")
    return out


def _windows_udf(df: pd.DataFrame, spec, scaler_series, splits, first_only, horizon) -> dict:
    stats = scaler_series[str(df[spec["series_column"]].iloc[0])]
    return inference_windows(df, spec, stats, splits=splits, first_only=first_only, horizon=horizon)


# -- the Ray Data side -------------------------------------------------------------

def series_scalers(inputs: InferenceInputs) -> dict[str, dict[str, Any]]:
    """One Ray Data pass: each series' value problems and size, merged with the checkpoint's scaler.

    Raises DataError naming every series with NaN/inf or duplicate timestamps (as training does).
    """
    configure_ray_data(deterministic=True)
    bars = read_bars(inputs.data_cfg["path"], inputs.data_cfg, inputs.read_columns)
    rows = bars.groupby(inputs.spec["series_column"]).map_groups(
        stats_udf, fn_kwargs={"spec": inputs.spec}, batch_format="pandas").take_all()
    fresh = {row["series_id"]: json.loads(row["stats"]) for row in rows}
    problems = [f"series {sid}: {p}" for sid, st in sorted(fresh.items()) for p in st["problems"]]
    if problems:
        raise DataError(f"{inputs.data_cfg['path']}: dataset problems:\n  " + "\n  ".join(problems))
    saved = inputs.scaler["series"]
    unseen = sorted(set(fresh) - set(saved))
    if unseen:
        log.warning("%d series not in the checkpoint, scaled on their own training split: %s",
                    len(unseen), ", ".join(unseen[:20]))
    return {sid: merge_scaler(saved.get(sid), st) for sid, st in fresh.items()}


def steps_to_end(scalers: dict[str, dict[str, Any]], split: str, input_dim: int) -> int:
    """Steps from the first window of ``split`` (``all``: of the series) to the end of the data, longest series."""
    skip = 0 if split == "all" else SPLITS.index(split)
    counts = [sum(st[f"n_{s}"] for s in SPLITS[skip:]) - input_dim for st in scalers.values()]
    return max([0, *counts])


def window_dataset(inputs: InferenceInputs, scalers: dict[str, dict[str, Any]], *, splits: tuple[str, ...],
                   horizon: int, first_only: bool = False):
    """A materialised Ray Dataset of inference windows of ``splits`` (see ``inference_windows``)."""
    configure_ray_data(deterministic=True)
    bars = read_bars(inputs.data_cfg["path"], inputs.data_cfg, inputs.read_columns)
    return bars.groupby(inputs.spec["series_column"]).map_groups(
        _windows_udf, fn_kwargs={"spec": inputs.spec, "scaler_series": scalers, "splits": tuple(splits),
                                 "first_only": first_only, "horizon": horizon},
        batch_format="pandas").materialize()
