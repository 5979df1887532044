"""One series, in pandas and NumPy: sort, transform, fit the scaler on its training split, cut windows.

Pure functions of one series' frame and a plain ``spec`` dict (``contract.make_spec``),
so Ray Data tasks run them unchanged and tests check them against NumPy references.
Each series is split chronologically; a window and its targets lie wholly in one
split, and the scaler is fitted on the training split only (no leakage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstmgan_ray.data.contract import SPLITS, transform_column


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


@dataclass(frozen=True)
class VolFilter:
    """The volatility the target's windows are divided by (``data.vol_scaling: ewma``).

    var_t = reversion + (1 - decay) * z_t**2 + (decay - reversion) * var_(t-1), from var = 1 (the
    training variance of the scaled changes ``z``): RiskMetrics' EWMA when ``reversion`` is 0, a
    GARCH(1,1) filter with unconditional variance 1 otherwise. A rollout continues it from
    generated values; without the pull towards 1, the volatility of a long rollout would drift
    to zero (an integrated variance process does, almost surely), so the default keeps some.
    """

    decay: float
    reversion: float = 0.0

    def series(self, z: np.ndarray) -> np.ndarray:
        """The volatility after each step of ``z``, using no value after it (no leakage)."""
        z = np.asarray(z, np.float64)
        keep = self.decay - self.reversion
        shocks = (1.0 - self.decay) * z * z + self.reversion
        # var_t = shocks_t + keep * var_(t-1) from var = 1: (1 - keep) * var is the exponentially
        # weighted mean of the shocks in pandas' recursive form, started at 1 - keep.
        start = np.concatenate([[1.0 - keep], shocks])
        weighted = pd.Series(start).ewm(alpha=1.0 - keep, adjust=False).mean().to_numpy()[1:]
        var = weighted / (1.0 - keep)
        var[np.maximum.accumulate(~np.isfinite(shocks))] = np.nan  # a non-finite step spoils all after it
        return np.sqrt(var)

    def step(self, vol: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The next volatility after the scaled change ``z`` (one step of ``series``)."""
        var = self.reversion + (1.0 - self.decay) * np.square(z) + (self.decay - self.reversion) * np.square(vol)
        return np.sqrt(var)


def vol_filter(data_cfg: dict[str, Any]) -> VolFilter | None:
    """The filter of a data config or spec; None for ``vol_scaling: none`` and for configs written
    before volatility scaling existed (they had none)."""
    if data_cfg.get("vol_scaling", "none") == "none":
        return None
    return VolFilter(float(data_cfg["vol_decay"]), float(data_cfg.get("vol_reversion", 0.0)))


def vol_channel(data_cfg: dict[str, Any], n_features: int) -> int | None:
    """Where the log-volatility channel sits in a window (after the ``n_features`` features) when
    ``data.vol_input`` asks for one; None otherwise (and for checkpoints written before it existed)."""
    return n_features if data_cfg.get("vol_input") and vol_filter(data_cfg) is not None else None


def window_channels(data_cfg: dict[str, Any], n_features: int) -> int:
    """The generator's input channels from the data: the features, and the volatility channel if any."""
    return n_features + (vol_channel(data_cfg, n_features) is not None)


def window_vols(scaled_target: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Per step, the scale a window ending there is divided by: ``VolFilter.series``, or ones."""
    vf = vol_filter(spec)
    return np.ones(len(scaled_target)) if vf is None else vf.series(scaled_target)


def series_windows(df: pd.DataFrame, spec: dict[str, Any], stats: dict[str, Any],
                   prepared: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """All windows of one series, each wholly inside one split.

    Returns columns: ``x`` [n, input_dim, channels] scaled (the features, then with
    ``data.vol_input`` the log volatility after each step), ``y`` [n, output_dim]
    scaled target steps, ``last`` (last observed target, original units),
    ``mu``/``sd`` (the target's scaler), ``vol`` (what the window's target steps and ``y`` are
    divided by, ``window_vols`` at its last step), ``timestamp`` (of the first target
    step), ``split``. ``prepared`` is ``prepare_series(df, spec)`` when the caller already has it.
    """
    if prepared is None:
        prepared = prepare_series(df, spec)
    cols, T, H = spec["features"], spec["input_dim"], spec["output_dim"]
    ti = spec["target_index"]
    mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
    scaled = ((prepared[cols].to_numpy(dtype=np.float64) - mean) / std).astype(np.float32)
    vols = window_vols(scaled[:, ti], spec)
    raw = prepared["_raw_target"].to_numpy()
    times = prepared[spec["timestamp_column"]].to_numpy()
    bounds = np.cumsum([0, stats["n_train"], stats["n_val"], stats["n_test"]])
    parts: dict[str, list] = {k: [] for k in ("x", "y", "vol", "last", "timestamp", "split")}
    for name, lo, hi in zip(SPLITS, bounds[:-1], bounds[1:]):
        starts = np.arange(lo, hi - T - H + 1)
        if len(starts) == 0:
            continue
        idx = starts[:, None] + np.arange(T)[None, :]
        tgt = starts[:, None] + T + np.arange(H)[None, :]
        vol = vols[starts + T - 1]
        x = scaled[idx]
        x[:, :, ti] /= vol[:, None].astype(np.float32)
        if vol_channel(spec, len(cols)) is not None:
            x = np.concatenate([x, np.log(vols[idx])[:, :, None].astype(np.float32)], axis=2)
        parts["x"].append(x)
        parts["y"].append((scaled[tgt, ti] / vol[:, None]).astype(np.float32))
        parts["vol"].append(vol)
        parts["last"].append(raw[starts + T - 1])
        parts["timestamp"].append(times[starts + T])
        parts["split"].append(np.full(len(starts), name, dtype=object))
    n_feat = window_channels(spec, len(cols))
    if not parts["x"]:
        return empty_windows(T, H, n_feat)
    out = {k: np.concatenate(v) for k, v in parts.items()}
    n = len(out["last"])
    out["mu"] = np.full(n, mean[ti])
    out["sd"] = np.full(n, std[ti])
    return out


def empty_windows(T: int, H: int, n_feat: int, rows: int = 0) -> dict[str, np.ndarray]:
    """``rows`` all-zero windows of split ``""`` (belonging to no split): none, or placeholders."""
    return {"x": np.zeros((rows, T, n_feat), np.float32), "y": np.zeros((rows, H), np.float32),
            "vol": np.ones(rows), "last": np.zeros(rows), "timestamp": np.zeros(rows, "datetime64[us]"),
            "split": np.full(rows, "", object), "mu": np.zeros(rows), "sd": np.ones(rows)}
