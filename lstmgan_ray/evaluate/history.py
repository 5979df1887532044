"""Each series' whole target history in transformed units, for the baselines that model returns.

The windows hold a few steps each; a GARCH needs every return from the series' start to a
window's last step (to filter its variance), and every baseline needs the training split's
returns. The bars are read with Ray Data and gathered on the driver (no group-by shuffle: the
driver already holds every window, which is more than the bars), then the training pipeline's
own per-series transform (``data.windows.prepare_series``) makes the steps, so they and the
training split's boundary are exactly the ones the windows were cut from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmgan_ray.data.inference import InferenceInputs
from lstmgan_ray.data.pipeline import configure_ray_data, read_bars
from lstmgan_ray.data.windows import prepare_series
from lstmgan_ray.evaluate.classical import SeriesHistory


def series_history(df: pd.DataFrame, spec: dict[str, Any], n_train: int) -> SeriesHistory:
    """One series' bars (any row order) to its transformed target steps."""
    prepared = prepare_series(df, spec)
    return SeriesHistory(prepared[spec["target"]].to_numpy(np.float64),
                         prepared[spec["timestamp_column"]].to_numpy("datetime64[us]"), int(n_train))


def read_series_history(inputs: InferenceInputs, scalers: dict[str, dict[str, Any]]) -> dict[str, SeriesHistory]:
    """Per series, every transformed target step in time order, with the checkpoint's training split size."""
    configure_ray_data(deterministic=True)
    spec = inputs.spec
    bars = read_bars(inputs.data_cfg["path"], inputs.data_cfg, inputs.read_columns).to_pandas()
    return {str(sid): series_history(group, spec, scalers[str(sid)]["n_train"])
            for sid, group in bars.groupby(spec["series_column"], sort=True)}
