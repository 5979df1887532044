"""A synthetic Parquet bars dataset of a chosen size, for the memory run.

Written one file at a time, so the writer never holds the whole dataset.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MB = 1024 * 1024


def write_bars(root: str, *, target_mb: float, features: int = 30, rows_per_series: int = 5000,
               series_per_file: int = 4, seed: int = 0) -> dict[str, Any]:
    """Random-walk series with ``features`` positive columns (one is ``close``) into ``root``,
    until their in-memory (Arrow) size reaches ``target_mb``. Returns what was written."""
    import pandas as pd  # where used: see benchmarks.run

    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"f{i:02d}" for i in range(features - 1)] + ["close"]
    times = pd.bdate_range("1950-01-02", periods=rows_per_series).astype("datetime64[us]")
    arrow_bytes = rows = files = series = 0
    while arrow_bytes < target_mb * MB:
        frames = []
        for _ in range(series_per_file):
            walk = np.exp(np.cumsum(rng.normal(0, 0.01, (rows_per_series, features)), axis=0))
            frame = pd.DataFrame(100.0 * walk, columns=names)
            frame.insert(0, "series_id", f"S{series:05d}")
            frame.insert(0, "timestamp", times)
            frames.append(frame)
            series += 1
        table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
        pq.write_table(table, os.path.join(root, f"part-{files:04d}.parquet"))
        arrow_bytes += table.nbytes
        rows += table.num_rows
        files += 1
    disk = sum(os.path.getsize(os.path.join(root, f)) for f in os.listdir(root))
    return {"path": root, "rows": rows, "series": series, "files": files, "features": features,
            "arrow_mb": arrow_bytes / MB, "parquet_mb": disk / MB}
