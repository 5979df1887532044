"""The Parquet contract: which columns are features, and how each becomes per-step changes.

Long-format Parquet (file, directory or URI) with a ``timestamp`` column, an optional
``series_id`` column, a numeric target and numeric features (default: every numeric
column but the timestamp; the target is always a feature). Prices are not stationary,
so every column is modelled as per-step changes chosen by its range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.types as pat

SPLITS = ("train", "val", "test")
SINGLE_SERIES = "series"  # the series id of data without a series column


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


def make_spec(data_cfg: dict[str, Any], features: list[str], transforms: dict[str, str]) -> dict[str, Any]:
    """The plain dict every Ray task receives: just what the per-series functions need."""
    return {
        "timestamp_column": data_cfg["timestamp_column"], "series_column": data_cfg["series_column"],
        "target": data_cfg["target"], "features": features, "transforms": transforms,
        "target_index": features.index(data_cfg["target"]), "input_dim": data_cfg["input_dim"],
        "output_dim": data_cfg["output_dim"], "splits": list(data_cfg["splits"]),
        "nan_policy": data_cfg["nan_policy"],
        # Checkpoints written before volatility scaling existed lack the keys: they used none.
        "vol_scaling": data_cfg.get("vol_scaling", "none"), "vol_decay": data_cfg.get("vol_decay", 0.94),
        "vol_reversion": data_cfg.get("vol_reversion", 0.0), "vol_input": bool(data_cfg.get("vol_input", False)),
    }


def listed_features(data_cfg: dict[str, Any]) -> list[str]:
    """The columns ``data.features`` names; none when it asks for a rule (``target``, ``all`` or
    null) instead of a list."""
    chosen = data_cfg.get("features")
    return list(chosen) if isinstance(chosen, list | tuple) else []


def resolve_features(data_cfg: dict[str, Any], schema) -> list[str]:
    """Feature columns in schema order; the target always among them."""
    skip = {data_cfg["timestamp_column"], data_cfg["series_column"]}
    if data_cfg.get("features") == "target":
        features = []
    elif listed_features(data_cfg):
        features = listed_features(data_cfg)
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
