"""Windows for inference: the training pipeline's windows, cut with a checkpoint's scaler.

A generator only makes sense on inputs scaled the way it was trained, so
``generate`` and ``evaluate`` do not refit the scaler on the data they are given:
for every series the checkpoint knows, windows use its scaler and its split
boundaries (row counts from the series' start; rows past the checkpoint's data
fall into the test split, so newly arrived bars are out of sample). A series
the checkpoint has never seen is scaled on its own training split, as training
would have done, with a warning. Everything else (reading, grouping, the
per-series transform and windowing) is ``data.py``'s own code.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstmgan_ray.config import ConfigError
from lstmgan_ray.data import (
    SPLITS,
    DataError,
    make_spec,
    prepare_series,
    series_windows,
)

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


def resolve_path(path: str) -> str:
    return path if "://" in path else os.path.abspath(os.path.expanduser(path))


def open_inputs(checkpoint: str, data_path: str | None) -> InferenceInputs:
    """Check the checkpoint and the dataset against each other from files alone (seconds).

    Args:
        checkpoint: a checkpoint directory (a training run's or a sweep's ``best/``).
        data_path: Parquet file, directory or URI; ``None`` uses the checkpoint's own ``data.path``.
    Raises:
        CheckpointError: missing, unreadable or truncated checkpoint files.
        DataError: unreadable data, missing columns, or a column whose transform the data no
            longer supports (e.g. a zero where the checkpoint takes log returns).
    """
    from lstmgan_ray.checkpoint import (
        CONFIG_FILE,
        SCALER_FILE,
        STATE_FILE,
        check_compatible,
        read_json,
        verify_checkpoint,
    )
    from lstmgan_ray.validate import inspect_dataset

    checkpoint = resolve_path(checkpoint)
    verify_checkpoint(checkpoint)
    config, scaler = read_json(checkpoint, CONFIG_FILE), read_json(checkpoint, SCALER_FILE)
    state = read_json(checkpoint, STATE_FILE)
    data_cfg = dict(config["data"])
    if data_path is not None:
        data_cfg["path"] = data_path
    # The checkpoint fixes the features; 'auto' must not pick a different set from these data.
    data_cfg["features"] = list(scaler["features"])
    info = inspect_dataset(data_cfg)
    check_compatible(checkpoint, config, info.features)
    changed = [f"column {c!r}: the checkpoint transforms it by {scaler['transforms'][c]}, these data "
               f"need {info.transforms[c]} (its values' range differs)"
               for c in info.features if info.transforms[c] != scaler["transforms"][c]]
    if changed:
        raise DataError(f"{data_cfg['path']}: does not fit checkpoint {checkpoint}:\n  " + "\n  ".join(changed))
    spec = make_spec(data_cfg, list(scaler["features"]), dict(scaler["transforms"]))
    return InferenceInputs(checkpoint, config, scaler, state, data_cfg, spec, len(info.files),
                           info.num_rows, info.read_columns)


def claim_output(out: str, overwrite: bool) -> None:
    """Refuse a non-empty output directory unless ``overwrite``; then empty it. Nothing is lost silently."""
    import pyarrow.fs as pafs

    from lstmgan_ray.validate import filesystem_for

    fs, path = filesystem_for(out)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        raise ConfigError(f"--out {out}: is a file; give a directory")
    if info.type == pafs.FileType.NotFound or not fs.get_file_info(pafs.FileSelector(path)):
        return
    if not overwrite:
        raise ConfigError(f"--out {out}: already holds files; pass --overwrite to replace them or choose another")
    fs.delete_dir_contents(path)


def check_actor_resources(concurrency: int, num_cpus: float, num_gpus: float, local: bool) -> None:
    """On a local Ray instance an actor pool larger than the machine would wait forever: refuse it."""
    import ray

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
    out = series_windows(df, spec, stats)
    keep = np.isin(out["split"].astype(str), splits)
    if first_only:
        keep &= np.arange(len(keep)) == (np.argmax(keep) if keep.any() else -1)
    out = {k: v[keep] for k, v in out.items()}
    prepared = prepare_series(df, spec)
    times = prepared[spec["timestamp_column"]].to_numpy("datetime64[us]")
    raw = prepared["_raw_target"].to_numpy(np.float64)
    start = np.searchsorted(times, out["timestamp"].astype("datetime64[us]"))
    all_times = np.concatenate([times, extend_timestamps(times, horizon)])
    ahead = start[:, None] + np.arange(horizon)[None, :]
    out["origin"] = times[start - 1]
    out["future_time"] = all_times[ahead].astype("datetime64[ns]").astype(np.int64)
    padded = np.concatenate([raw, np.full(horizon, np.nan)])
    out["future_actual"] = padded[ahead]
    out["hold"] = hold_rows(out["x"], stats["mean"], stats["std"],
                            [spec["transforms"][c] for c in spec["features"]])
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
    import json

    from lstmgan_ray.data import stats_udf, configure_ray_data, read_bars

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
    from lstmgan_ray.data import configure_ray_data, read_bars

    configure_ray_data(deterministic=True)
    bars = read_bars(inputs.data_cfg["path"], inputs.data_cfg, inputs.read_columns)
    return bars.groupby(inputs.spec["series_column"]).map_groups(
        _windows_udf, fn_kwargs={"spec": inputs.spec, "scaler_series": scalers, "splits": tuple(splits),
                                 "first_only": first_only, "horizon": horizon},
        batch_format="pandas").materialize()
