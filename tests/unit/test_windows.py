"""Per-series windowing in pandas/NumPy: transforms, invariants on random series, NaN policies, short series."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmgan_ray.data import make_spec, series_stats, series_windows, transform_column, value_problems
from tests.helpers import make_series

T, H = 4, 2


PRICE = ["open", "high", "low", "close"]


@pytest.mark.parametrize("transform", ["log_return", "log1p_diff", "diff", "none"])
def test_transform_column(transform):
    v = np.array([1.0, 2.0, 4.0])
    got = transform_column(v, transform)
    assert np.isnan(got[0])
    expected = {"log_return": np.log([2.0, 2.0]), "log1p_diff": np.log([3 / 2, 5 / 3]),
                "diff": [1.0, 2.0], "none": [2.0, 4.0]}[transform]
    np.testing.assert_allclose(got[1:], expected)


# -- property-based: random small valid series, pure per-series functions (no Ray) -----------



@st.composite
def small_series(draw):
    n = draw(st.integers(min_value=8, max_value=80))
    T = draw(st.integers(min_value=1, max_value=6))
    H = draw(st.integers(min_value=1, max_value=3))
    train = draw(st.floats(min_value=0.3, max_value=0.9))
    val = draw(st.floats(min_value=0.0, max_value=1.0 - train))
    seed = draw(st.integers(min_value=0, max_value=10_000))
    frame = make_series("S", n, draw(st.floats(min_value=0.5, max_value=1e5)), seed)
    frame = frame.sample(frac=1.0, random_state=seed)  # any row order
    return frame, T, H, (train, val, 1.0 - train - val)


@settings(max_examples=60, deadline=None)
@given(small_series())
def test_windows_invariants_on_random_valid_series(case):
    frame, T, H, fractions = case
    data_cfg = {"timestamp_column": "timestamp", "series_column": "series_id", "target": "close",
                "input_dim": T, "output_dim": H, "splits": fractions, "nan_policy": "error"}
    features = ["open", "high", "low", "close", "volume"]
    transforms = {c: "log_return" for c in features[:4]} | {"volume": "log1p_diff"}
    spec = make_spec(data_cfg, features, transforms)
    problems, _ = value_problems(frame, spec)
    assert problems == []  # validation accepts every valid series
    stats = series_stats(frame, spec)
    assert stats["n_train"] + stats["n_val"] + stats["n_test"] == len(frame) - 1
    out = series_windows(frame, spec, stats)
    times = np.sort(frame["timestamp"].to_numpy())[1:]
    bounds = np.cumsum([0, stats["n_train"], stats["n_val"], stats["n_test"]])
    for name, lo, hi in zip(("train", "val", "test"), bounds[:-1], bounds[1:]):
        mask = out["split"] == name
        assert mask.sum() == max(0, (hi - lo) - T - H + 1)
        if mask.any():
            # The first target step lies T steps into the split, and the horizon ends inside it.
            ts = out["timestamp"][mask]
            assert ts.min() >= times[lo + T] and ts.max() <= times[hi - H]
    assert out["x"].shape[1:] == (T, len(features)) and out["y"].shape[1:] == (H,)
    # x's target channel and y are one sequence: each window's y continues its own x.
    if out["x"].shape[0] > 1 and H == 1:
        same = out["split"][1:] == out["split"][:-1]
        np.testing.assert_allclose(out["x"][1:, -1, 3][same], out["y"][:-1, 0][same], rtol=1e-6)
    assert np.isfinite(out["x"]).all() and np.isfinite(out["y"]).all()


# -- value policies and warnings, on the pure per-series functions --------------------------------


def _spec(nan_policy="error", T=3, H=1):
    data_cfg = {"timestamp_column": "timestamp", "series_column": "series_id", "target": "close",
                "input_dim": T, "output_dim": H, "splits": (0.7, 0.15, 0.15), "nan_policy": nan_policy}
    features = ["open", "close", "volume"]
    return make_spec(data_cfg, features, {"open": "diff", "close": "log_return", "volume": "log1p_diff"})


def test_nan_policies_error_ffill_drop():
    frame = make_series("S", 40, 10.0, 4)[["timestamp", "series_id", "open", "close", "volume"]]
    frame.loc[7, "close"] = np.nan
    problems, _ = value_problems(frame, _spec("error"))
    assert problems and "column 'close': 1 NaN/inf value(s), first at" in problems[0]
    assert value_problems(frame, _spec("ffill"))[0] == []
    filled = series_stats(frame, _spec("ffill"))
    dropped = series_stats(frame, _spec("drop"))
    assert filled["rows"] == 39 and dropped["rows"] == 38  # ffill keeps the row, drop loses it
    assert np.isfinite(filled["mean"]).all() and np.isfinite(dropped["mean"]).all()


def test_constant_feature_and_unsorted_are_flagged_not_fatal():
    frame = make_series("S", 40, 10.0, 5)[["timestamp", "series_id", "open", "close", "volume"]]
    frame["open"] = 3.0  # constant: its std would be 0
    stats = series_stats(frame.iloc[::-1], _spec())
    assert stats["constant"] == ["open"] and stats["unsorted"] is True and stats["problems"] == []
    out = series_windows(frame, _spec(), stats)
    assert np.isfinite(out["x"]).all()


def test_series_too_short_for_a_window_yields_none():
    frame = make_series("S", 4, 10.0, 6)[["timestamp", "series_id", "open", "close", "volume"]]
    spec = _spec(T=3, H=1)
    out = series_windows(frame, spec, series_stats(frame, spec))
    assert len(out["x"]) == 0 and out["x"].shape[1:] == (3, 3)


def test_one_series_is_prepared_once_per_pass(monkeypatch):
    """The single pass sorts, repairs and transforms each series once, not once for the stats and
    again for the windows; the windows are the same either way."""
    from lstmgan_ray.data import pipeline, windows

    calls = []
    original = windows.prepare_series

    def counted(df, spec):
        calls.append(len(df))
        return original(df, spec)

    monkeypatch.setattr(windows, "prepare_series", counted)
    monkeypatch.setattr(pipeline, "prepare_series", counted)
    frame = make_series("S", 80, 10.0, 5)[["timestamp", "series_id", "open", "close", "volume"]]
    spec = _spec()
    out = pipeline.series_udf(frame, spec)
    assert calls == [80]
    reference = series_windows(frame, spec, series_stats(frame, spec))  # prepares on its own
    assert np.array_equal(out["x"], reference["x"]) and np.array_equal(out["y"], reference["y"])
