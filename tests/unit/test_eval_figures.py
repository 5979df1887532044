"""The 20-step fan chart: its arrays come from the windows and paths as evaluate holds them."""

import numpy as np

from lstmgan_ray.evaluate.figures import horizon_fan_figure
from lstmgan_ray.evaluate.scoring import horizon_fan_series


def test_horizon_fans_are_drawn_from_each_series_own_windows(tmp_path):
    n, k, h = 30, 9, 5
    origin = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-31")).astype("datetime64[us]")
    windows = {"series_id": np.array(["A"] * 20 + ["B"] * 10, dtype=object), "origin": origin,
               "last": np.arange(n, dtype=float) + 100.0,
               "future_time": (origin[:, None] + np.arange(1, h + 1)).astype("datetime64[ns]").astype(np.int64),
               "future_actual": np.arange(n * h, dtype=float).reshape(n, h)}
    windows["future_actual"][-3:, -1] = np.nan  # past the data: no fan starts there
    sampled = np.random.default_rng(0).normal(100, 1, (n, k, h))
    fans = horizon_fan_series(windows, sampled)
    assert set(fans) == {"A", "B"} and fans["A"]["sampled"].shape == (20, k, h)
    np.testing.assert_array_equal(fans["B"]["last"], windows["last"][20:])
    np.testing.assert_array_equal(fans["B"]["sampled"], sampled[20:])
    path = horizon_fan_figure(fans, str(tmp_path / "fan.png"), fans=4)
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
