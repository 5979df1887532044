"""The Ray Data pipeline from Parquet bars to per-split windows, in one group-by pass.

    read_parquet -> group by series -> per series: check values, transform, fit the
                    scaler on its training split, scale, split, window -> train/val/test

One pass does it all because a series' scaler depends on that series alone; each
series' stats ride along with its first window and are checked on the driver before
any training worker starts. Per-series scaling (not Ray's global ``StandardScaler``)
because series in one dataset sit at very different levels.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import ray.data
from ray.data import DataContext
from ray.data.context import ShuffleStrategy

from lstmgan_ray.data.contract import SINGLE_SERIES, SPLITS, make_spec
from lstmgan_ray.data.windows import empty_windows, prepare_series, series_stats, series_windows, window_channels
from lstmgan_ray.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """What the driver hands to training: per-split datasets and the fitted scaler."""

    train: Any
    val: Any
    test: Any
    scaler: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)


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
        out = empty_windows(spec["input_dim"], spec["output_dim"],
                            window_channels(spec, len(spec["features"])), rows=1)
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
