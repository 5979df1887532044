"""Windowing and leak-free scaling: the Ray Data pipeline against a plain NumPy reference."""

import numpy as np
import pandas as pd
import pytest

from lstmgan_ray.config import Config
from lstmgan_ray.data import prepare_datasets, split_sizes, transform_column
from lstmgan_ray.validate import inspect_dataset

from conftest import make_series, write_dataset

T, H = 4, 2
PRICE = ["open", "high", "low", "close"]


def reference_windows(frame: pd.DataFrame, fractions=(0.7, 0.15, 0.15)):
    """Plain NumPy: transform, split, fit on train, scale, window; per split."""
    frame = frame.sort_values("timestamp")
    cols = ["open", "high", "low", "close", "volume"]
    raw = frame[cols].to_numpy(float)
    tr = np.empty((len(raw) - 1, len(cols)))
    tr[:, :4] = np.log(raw[1:, :4]) - np.log(raw[:-1, :4])       # prices: log returns
    tr[:, 4] = np.log1p(raw[1:, 4]) - np.log1p(raw[:-1, 4])       # volume with zeros: log1p diff
    close = raw[1:, 3]
    times = frame["timestamp"].to_numpy()[1:]
    n = len(tr)
    n_train = int(np.floor(n * fractions[0] + 1e-9))
    n_val = int(np.floor(n * fractions[1] + 1e-9))
    mean, std = tr[:n_train].mean(0), tr[:n_train].std(0)
    scaled = (tr - mean) / std
    out = {}
    for name, lo, hi in (("train", 0, n_train), ("val", n_train, n_train + n_val), ("test", n_train + n_val, n)):
        xs, ys, last, ts = [], [], [], []
        for s in range(lo, hi - T - H + 1):
            xs.append(scaled[s:s + T])
            ys.append(scaled[s + T:s + T + H, 3])
            last.append(close[s + T - 1])
            ts.append(times[s + T])
        out[name] = (np.array(xs), np.array(ys), np.array(last), np.array(ts))
    return out, mean, std


@pytest.fixture(scope="module")
def prepared(ray_local, bars_dir):
    cfg = Config.from_dict({"data": {"path": bars_dir, "input_dim": T, "output_dim": H}})
    info = inspect_dataset(cfg.data.model_dump())
    return info, prepare_datasets(cfg.data.model_dump(), info.features, info.transforms, info.read_columns)


def _rows(ds) -> pd.DataFrame:
    rows = ds.to_pandas()
    return rows.sort_values(["series_id", "timestamp"]).reset_index(drop=True)


def test_features_and_transforms_resolved_from_schema_and_statistics(prepared):
    info, _ = prepared
    assert info.features == ["open", "high", "low", "close", "volume"]
    assert info.transforms == {"open": "log_return", "high": "log_return", "low": "log_return",
                               "close": "log_return", "volume": "log1p_diff"}
    assert len(info.files) == 3


def test_windows_match_numpy_reference_across_files_and_series(prepared, bars_frames):
    _, prep = prepared
    splits = {"train": _rows(prep.train), "val": _rows(prep.val), "test": _rows(prep.test)}
    for frame in bars_frames:
        sid = frame["series_id"].iloc[0]
        ref, mean, std = reference_windows(frame)
        for name, (x, y, last, ts) in ref.items():
            got = splits[name][splits[name]["series_id"] == sid]
            assert len(got) == len(x), (sid, name)
            np.testing.assert_allclose(np.stack(got["x"].to_numpy()), x, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(np.stack(got["y"].to_numpy()), y, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got["last"].to_numpy(), last, rtol=1e-12)
            assert (got["timestamp"].to_numpy() == ts).all()
            np.testing.assert_allclose(got["mu"].to_numpy(), mean[3])
            np.testing.assert_allclose(got["sd"].to_numpy(), std[3])
        stats = prep.scaler["series"][sid]
        np.testing.assert_allclose(stats["mean"], mean, rtol=1e-9)
        np.testing.assert_allclose(stats["std"], std, rtol=1e-9)
    assert prep.counts == {k: len(v) for k, v in splits.items()}
    # Windows come in one fixed order, by series then time, so every run sees the same batches.
    for ds in (prep.train, prep.val):
        order = ds.to_pandas()[["series_id", "timestamp"]]
        pd.testing.assert_frame_equal(order, order.sort_values(["series_id", "timestamp"]))


def test_scaler_and_train_windows_ignore_later_splits(ray_local, tmp_path, bars_frames):
    """Leak-free: blowing up the validation/test years changes no training statistic or window."""
    changed = []
    for frame in bars_frames:
        frame = frame.copy()
        n = len(frame) - 1
        n_train = split_sizes(n, (0.7, 0.15, 0.15))[0]
        cut = n_train + 1  # raw row index of the first transformed row past train
        frame.loc[cut:, PRICE] *= np.linspace(1, 40, len(frame) - cut)[:, None]
        changed.append(frame)
    cfg = Config.from_dict({"data": {"path": write_dataset(tmp_path / "bars", changed),
                                     "input_dim": T, "output_dim": H}})
    info = inspect_dataset(cfg.data.model_dump())
    other = prepare_datasets(cfg.data.model_dump(), info.features, info.transforms, info.read_columns)
    base_cfg = Config.from_dict({"data": {"path": write_dataset(tmp_path / "base", bars_frames),
                                          "input_dim": T, "output_dim": H}})
    base = prepare_datasets(base_cfg.data.model_dump(), info.features, info.transforms, info.read_columns)
    assert other.scaler == base.scaler
    # Two runs of the pipeline hand training the same windows in the same order.
    a, b = other.train.to_pandas(), base.train.to_pandas()
    pd.testing.assert_frame_equal(a[["series_id", "timestamp"]], b[["series_id", "timestamp"]])
    np.testing.assert_array_equal(np.stack(a["x"].to_numpy()), np.stack(b["x"].to_numpy()))
    np.testing.assert_array_equal(np.stack(a["y"].to_numpy()), np.stack(b["y"].to_numpy()))
    assert not np.allclose(np.stack(_rows(other.test)["y"].to_numpy()), np.stack(_rows(base.test)["y"].to_numpy()))


def test_single_series_without_series_column(ray_local, tmp_path):
    frame = make_series("ignored", 60, 50.0, seed=9).drop(columns="series_id")
    path = write_dataset(tmp_path / "one", [frame], files=2)
    cfg = Config.from_dict({"data": {"path": path, "input_dim": T, "output_dim": 1}})
    info = inspect_dataset(cfg.data.model_dump())
    prep = prepare_datasets(cfg.data.model_dump(), info.features, info.transforms, info.read_columns)
    assert list(prep.scaler["series"]) == ["series"]
    n_train = split_sizes(59, (0.7, 0.15, 0.15))[0]
    assert prep.counts["train"] == n_train - T - 1 + 1


@pytest.mark.parametrize("transform", ["log_return", "log1p_diff", "diff", "none"])
def test_transform_column(transform):
    v = np.array([1.0, 2.0, 4.0])
    got = transform_column(v, transform)
    assert np.isnan(got[0])
    expected = {"log_return": np.log([2.0, 2.0]), "log1p_diff": np.log([3 / 2, 5 / 3]),
                "diff": [1.0, 2.0], "none": [2.0, 4.0]}[transform]
    np.testing.assert_allclose(got[1:], expected)


# -- property-based: random small valid series, pure per-series functions (no Ray) -----------

from hypothesis import given, settings, strategies as st  # noqa: E402

from lstmgan_ray.data import make_spec, series_stats, series_windows, value_problems  # noqa: E402


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
