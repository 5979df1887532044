"""Windowing and leak-free scaling: the Ray Data pipeline against a plain NumPy reference."""

import numpy as np
import pandas as pd
import pytest

from lstmgan_ray.config import Config
from lstmgan_ray.data import prepare_datasets, split_sizes
from lstmgan_ray.data.validate import inspect_dataset
from tests.helpers import make_series, write_dataset

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
    # Every numeric column a feature, and the per-series scaler alone (no volatility scaling): the
    # pipeline the NumPy reference below reproduces.
    cfg = Config.from_dict({"data": {"path": bars_dir, "input_dim": T, "output_dim": H, "features": None,
                                     "vol_scaling": "none"}})
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
