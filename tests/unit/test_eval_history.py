"""The series history the classical baselines are fitted on: the pipeline's own transform, in time order."""

import numpy as np
import pandas as pd

from lstmgan_ray.data.contract import make_spec
from lstmgan_ray.evaluate.history import series_history


def test_history_is_the_transformed_target_in_time_order_whatever_the_row_order():
    close = 100 * np.exp(np.random.default_rng(0).normal(0, 0.01, 50).cumsum())
    times = pd.bdate_range("2020-01-01", periods=50).astype("datetime64[us]")
    bars = pd.DataFrame({"timestamp": times, "series_id": "A", "close": close, "volume": np.arange(50.0) + 1})
    shuffled = bars.sample(frac=1.0, random_state=1)
    cfg = {"timestamp_column": "timestamp", "series_column": "series_id", "target": "close", "input_dim": 3,
           "output_dim": 1, "splits": [0.7, 0.15, 0.15], "nan_policy": "error"}
    spec = make_spec(cfg, ["close", "volume"], {"close": "log_return", "volume": "log1p_diff"})
    h = series_history(shuffled, spec, n_train=34)
    np.testing.assert_allclose(h.returns, np.diff(np.log(close)))  # step t is the change into day t
    assert (h.times == times[1:].to_numpy()).all() and len(h.train) == 34
    np.testing.assert_array_equal(h.rows(times[[1, 10]].to_numpy()), [0, 9])
