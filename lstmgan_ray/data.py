"""The Parquet contract and the Ray Data pipeline from bars to leak-free windows.

Contract: long-format Parquet (file, directory or URI) with a ``timestamp``
column, an optional ``series_id`` column, a numeric target and numeric
features (default: every numeric column but the timestamp; the target is
always a feature). Pipeline, all Ray Data operations so it scales with the
cluster:

    read_parquet -> group by series -> per series: check values, transform, fit the
                    scaler on its training split, scale, split, window -> train/val/test

One group-by pass does it all, because a series' scaler depends on that series
alone; each series' stats ride along with its windows and are checked on the
driver before any training worker starts.

Each series is split chronologically; a window and its targets lie wholly in
one split, and scalers are fitted on the training split only. Per-series
scaling (not Ray's global ``StandardScaler``) because series in one dataset sit
at very different levels.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
SINGLE_SERIES = "series"


class DataError(ValueError):
    """Problems with the dataset; the message lists every one, naming file, column and series."""


# -- pure per-series functions (NumPy/pandas; tests check them directly) -------

def transform_column(values: np.ndarray, transform: str) -> np.ndarray:
    """Apply a per-step transform; the first element has no predecessor and becomes NaN."""
    values = values.astype(np.float64)
    out = np.full_like(values, np.nan)
    if transform == "log_return":
        with np.errstate(divide="ignore", invalid="ignore"):
            out[1:] = np.diff(np.log(values))
    elif transform == "log1p_diff":
        with np.errstate(divide="ignore", invalid="ignore"):
            out[1:] = np.diff(np.log1p(values))
    elif transform == "diff":
        out[1:] = np.diff(values)
    elif transform == "none":
        out[1:] = values[1:]
    else:
        raise ValueError(f"unknown transform {transform!r}")
    return out


def split_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Rows per split for a series of ``n`` transformed rows: floor for train/val, rest to test."""
    n_train = int(np.floor(n * fractions[0] + 1e-9))
    n_val = int(np.floor(n * fractions[1] + 1e-9))
    return n_train, n_val, n - n_train - n_val


def prepare_series(df: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """Sort one series by time, apply the NaN policy, transform every feature; drop row 0.

    Returns the transformed frame with ``_raw_target`` (original units) kept beside.
    """
    ts = spec["timestamp_column"]
    df = df.sort_values(ts, kind="stable").reset_index(drop=True)
    cols = spec["features"]
    if spec["nan_policy"] == "ffill":
        df[cols] = df[cols].ffill()
    elif spec["nan_policy"] == "drop":
        df = df.dropna(subset=cols).reset_index(drop=True)
    out = pd.DataFrame({ts: df[ts].to_numpy()})
    for col in cols:
        out[col] = transform_column(df[col].to_numpy(), spec["transforms"][col])
    out["_raw_target"] = df[spec["target"]].to_numpy(dtype=np.float64)
    return out.iloc[1:].reset_index(drop=True)


def value_problems(df: pd.DataFrame, spec: dict[str, Any]) -> tuple[list[str], bool]:
    """Problems in one raw series (non-finite values, duplicate timestamps) and whether it was unsorted."""
    ts, problems = spec["timestamp_column"], []
    times = df[ts]
    unsorted = not times.is_monotonic_increasing
    dup = times[times.duplicated()]
    if len(dup):
        problems.append(f"{len(dup)} duplicate timestamp(s), first {pd.Timestamp(dup.iloc[0])}")
    if spec["nan_policy"] == "error":
        for col in spec["features"]:
            vals = df[col].to_numpy(dtype=np.float64, na_value=np.nan)
            bad = ~np.isfinite(vals)
            if bad.any():
                first = pd.Timestamp(times.to_numpy()[np.argmax(bad)])
                problems.append(f"column {col!r}: {int(bad.sum())} NaN/inf value(s), first at {first} "
                                "(set data.nan_policy to 'ffill' or 'drop' to repair)")
    return problems, unsorted


def series_stats(df: pd.DataFrame, spec: dict[str, Any], prepared: pd.DataFrame | None = None) -> dict[str, Any]:
    """Scaler and split facts of one series, fitted on its training rows only.

    ``prepared`` is ``prepare_series(df, spec)`` when the caller already has it.
    """
    problems, unsorted = value_problems(df, spec)
    if prepared is None:
        prepared = prepare_series(df, spec)
    cols = spec["features"]
    n_train, n_val, n_test = split_sizes(len(prepared), tuple(spec["splits"]))
    train = prepared[cols].to_numpy(dtype=np.float64)[:n_train]
    mean = train.mean(axis=0) if n_train else np.zeros(len(cols))
    std = train.std(axis=0) if n_train else np.ones(len(cols))
    constant = [c for c, s in zip(cols, std) if not s > 0]
    std = np.where(std > 0, std, 1.0)
    return {"mean": mean.tolist(), "std": std.tolist(), "rows": len(prepared),
            "n_train": n_train, "n_val": n_val, "n_test": n_test, "constant": constant,
            "problems": problems, "unsorted": unsorted}


def series_windows(df: pd.DataFrame, spec: dict[str, Any], stats: dict[str, Any],
                   prepared: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """All windows of one series, each wholly inside one split.

    Returns columns: ``x`` [n, input_dim, features] scaled, ``y`` [n, output_dim]
    scaled target steps, ``last`` (last observed target, original units),
    ``mu``/``sd`` (the target's scaler), ``timestamp`` (of the first target
    step), ``split``.
    """
    prepared = prepare_series(df, spec)
    cols, T, H = spec["features"], spec["input_dim"], spec["output_dim"]
    ti = spec["target_index"]
    mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
    scaled = ((prepared[cols].to_numpy(dtype=np.float64) - mean) / std).astype(np.float32)
    raw = prepared["_raw_target"].to_numpy()
    times = prepared[spec["timestamp_column"]].to_numpy()
    bounds = np.cumsum([0, stats["n_train"], stats["n_val"], stats["n_test"]])
    parts: dict[str, list] = {k: [] for k in ("x", "y", "last", "timestamp", "split")}
    for name, lo, hi in zip(SPLITS, bounds[:-1], bounds[1:]):
        starts = np.arange(lo, hi - T - H + 1)
        if len(starts) == 0:
            continue
        idx = starts[:, None] + np.arange(T)[None, :]
        tgt = starts[:, None] + T + np.arange(H)[None, :]
        parts["x"].append(scaled[idx])
        parts["y"].append(scaled[tgt, ti])
        parts["last"].append(raw[starts + T - 1])
        parts["timestamp"].append(times[starts + T])
        parts["split"].append(np.full(len(starts), name, dtype=object))
    n_feat = len(cols)
    if not parts["x"]:
        return _empty_windows(T, H, n_feat)
    out = {k: np.concatenate(v) for k, v in parts.items()}
    n = len(out["last"])
    out["mu"] = np.full(n, mean[ti])
    out["sd"] = np.full(n, std[ti])
    return out


def _empty_windows(T: int, H: int, n_feat: int, rows: int = 0) -> dict[str, np.ndarray]:
    """``rows`` all-zero windows of split ``""`` (belonging to no split): none, or placeholders."""
    return {"x": np.zeros((rows, T, n_feat), np.float32), "y": np.zeros((rows, H), np.float32),
            "last": np.zeros(rows), "timestamp": np.zeros(rows, "datetime64[us]"),
            "split": np.full(rows, "", object), "mu": np.zeros(rows), "sd": np.ones(rows)}


# -- the Ray Data pipeline ------------------------------------------------------

@dataclass
class Prepared:
    """What the driver hands to training: per-split datasets and the fitted scaler."""

    train: Any
    val: Any
    test: Any
    scaler: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)


def make_spec(data_cfg: dict[str, Any], features: list[str], transforms: dict[str, str]) -> dict[str, Any]:
    """The plain dict every Ray task receives: just what the per-series functions need."""
    return {
        "timestamp_column": data_cfg["timestamp_column"], "series_column": data_cfg["series_column"],
        "target": data_cfg["target"], "features": features, "transforms": transforms,
        "target_index": features.index(data_cfg["target"]), "input_dim": data_cfg["input_dim"],
        "output_dim": data_cfg["output_dim"], "splits": list(data_cfg["splits"]),
        "nan_policy": data_cfg["nan_policy"],
    }


def stats_udf(df: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """``map_groups`` body of the stats pass (one row per series); inference reuses it on new data."""
    sid = str(df[spec["series_column"]].iloc[0])
    stats = series_stats(df, spec)
    return pd.DataFrame({"series_id": [sid], "stats": [json.dumps(stats)]})


def series_udf(df: pd.DataFrame, spec: dict[str, Any]) -> dict:
    """``map_groups`` body of the single pass: one series' windows, with its stats on the first row.

    A series that yields no windows (too short, or values that must be repaired first)
    still returns one row, of split ``""``, so that its stats reach the driver.
    """
    sid = str(df[spec["series_column"]].iloc[0])
    prepared = prepare_series(df, spec)
    stats = series_stats(df, spec, prepared)
    out = None if stats["problems"] else series_windows(df, spec, stats, prepared)
    if out is None or len(out["last"]) == 0:
        out = _empty_windows(spec["input_dim"], spec["output_dim"], len(spec["features"]), rows=1)
    n = len(out["last"])
    out["series_id"] = np.full(n, sid, dtype=object)
    out["stats"] = np.full(n, "", dtype=object)
    out["stats"][0] = json.dumps(stats)
    return out


def stats_rows(batch: pd.DataFrame) -> pd.DataFrame:
    """``map_batches`` body that keeps each series' stats (the first row of its windows)."""
    return batch.loc[batch["stats"] != "", ["series_id", "stats"]]


def only_split(batch: pd.DataFrame, name: str) -> pd.DataFrame:
    """``map_batches`` body that keeps one split's windows (training and evaluation alike)."""
    keep = batch[batch["split"] == name]
    return keep.drop(columns=["stats"]) if "stats" in keep.columns else keep


def read_bars(path: str, data_cfg: dict[str, Any], columns: list[str]):
    """Read the Parquet bars with Ray Data, adding a constant series id when there is none."""
    import ray.data

    ds = ray.data.read_parquet(path, columns=columns)
    sc = data_cfg["series_column"]
    if sc not in columns:
        ds = ds.add_column(sc, lambda batch: pd.Series([SINGLE_SERIES] * len(batch)),
                           batch_format="pandas")
    return ds


def configure_ray_data(deterministic: bool = True) -> None:
    """Driver-side Ray Data settings for the pipeline.

    Group-bys use the sort-based shuffle: its output comes ordered by series, so the
    windows reach the workers in the same order in every run (a resumed run then
    replays exactly the batches an unbroken one would see). The hash shuffle emits
    partitions in the order its aggregators finish, which changed the order between
    two runs in one process; on a 2-core machine it was also twice as slow (16 s
    against 8 s for the bundled data). ``deterministic`` also keeps block order
    through the map stages. Ray Data's per-operator banners drown the per-epoch
    lines; keep warnings only.
    """
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    ctx = DataContext.get_current()
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    ctx.execution_options.preserve_order = deterministic
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def prepare_datasets(data_cfg: dict[str, Any], features: list[str], transforms: dict[str, str],
                     read_columns: list[str], deterministic: bool = True) -> Prepared:
    """Run the pipeline; returns per-split Ray Datasets (materialised in the object store).

    Args:
        data_cfg: the ``data`` section as a dict.
        features: resolved feature columns (target included).
        transforms: resolved per-column transform.
        read_columns: the columns to read from Parquet.
        deterministic: keep window order identical from run to run.
    """
    configure_ray_data(deterministic)
    spec = make_spec(data_cfg, features, transforms)
    bars = read_bars(data_cfg["path"], data_cfg, read_columns)
    windows = bars.groupby(data_cfg["series_column"]).map_groups(
        series_udf, fn_kwargs={"spec": spec}, batch_format="pandas").materialize()
    per_series = {row["series_id"]: json.loads(row["stats"])
                  for row in windows.map_batches(stats_rows, batch_format="pandas").take_all()}
    problems = [f"series {sid}: {p}" for sid, st in sorted(per_series.items()) for p in st["problems"]]
    if problems:
        raise DataError(f"{data_cfg['path']}: dataset problems:\n  " + "\n  ".join(problems))
    need = spec["input_dim"] + spec["output_dim"]
    too_short = sorted(sid for sid, st in per_series.items() if st["rows"] < need)
    if too_short:
        log.warning("%d series shorter than one window plus horizon (%d steps), skipped: %s",
                    len(too_short), need, ", ".join(too_short[:20]) + (" ..." if len(too_short) > 20 else ""))
    for sid, st in sorted(per_series.items()):
        if sid in too_short:
            continue
        if st["unsorted"]:
            log.warning("series %s: timestamps were not sorted; sorted them", sid)
        if st["constant"]:
            log.warning("series %s: constant in the training split: %s (scaled with std 1)",
                        sid, ", ".join(st["constant"]))
        if st["n_train"] < need:
            log.warning("series %s: %d training rows, fewer than one window needs (%d); "
                        "it contributes no training windows", sid, st["n_train"], need)
    splits = {name: windows.map_batches(only_split, fn_kwargs={"name": name},
                                        batch_format="pandas").materialize()
              for name in SPLITS}
    counts = {name: ds.count() for name, ds in splits.items()}
    if counts["test"] == 0:
        log.warning("no test windows: every series' test split is shorter than %d steps", need)
    scaler = {"features": features, "target": data_cfg["target"], "target_index": spec["target_index"],
              "transforms": transforms, "series": per_series}
    return Prepared(splits["train"], splits["val"], splits["test"], scaler, counts)


def resolve_features(data_cfg: dict[str, Any], schema) -> list[str]:
    """Feature columns in schema order; the target always among them."""
    import pyarrow.types as pat

    skip = {data_cfg["timestamp_column"], data_cfg["series_column"]}
    if data_cfg.get("features"):
        features = list(data_cfg["features"])
    else:
        features = [f.name for f in schema if f.name not in skip
                    and (pat.is_integer(f.type) or pat.is_floating(f.type) or pat.is_decimal(f.type))]
    if data_cfg["target"] not in features:
        features.append(data_cfg["target"])
    return features


def resolve_transforms(data_cfg: dict[str, Any], features: list[str], minimums: dict[str, float]) -> dict[str, str]:
    """Per-column transform: the target's is explicit; 'auto' picks by the column's minimum.

    ``auto``: strictly positive columns (prices) -> log returns; non-negative
    (volumes with zero days) -> log1p differences; anything else -> differences.
    """
    out = {}
    for col in features:
        if col == data_cfg["target"]:
            out[col] = data_cfg["target_transform"]
        elif data_cfg["feature_transform"] != "auto":
            out[col] = data_cfg["feature_transform"]
        else:
            lo = minimums.get(col)
            out[col] = "log_return" if lo is not None and lo > 0 else (
                "log1p_diff" if lo is not None and lo >= 0 else "diff")
    return out
