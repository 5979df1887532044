"""Feature columns equal to the target (or to an earlier feature) in every row, found from real Parquet
files before any worker starts: dropped with a warning when found automatically, kept with one when
named, and a column whose footer statistics match but whose values differ left alone."""

import logging

import numpy as np
import pytest

from lstmgan_ray.config import Config
from lstmgan_ray.data.validate import inspect_dataset, list_parquet_files, read_footers
from tests.helpers import frames, write_dataset

WARNED_BY = "lstmgan_ray.data.duplicates"


def _bars(tmp_path, **extra):
    """Two series over two files (rows shuffled across them), with extra columns built from each frame."""
    parts = [f.assign(**{name: make(f) for name, make in extra.items()}) for f in frames()]
    return write_dataset(tmp_path / "bars", parts, files=2)


def _inspect(path, keep=(), **data):
    """``inspect_dataset`` with features found automatically (every numeric column) unless ``data`` names them."""
    cfg = Config.from_dict({"data": {"path": path, "features": None, **data}})
    return inspect_dataset(cfg.data.model_dump(), keep=keep)


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == WARNED_BY and r.levelno == logging.WARNING]


def test_a_copy_of_the_target_is_dropped_with_one_warning(tmp_path, caplog):
    path = _bars(tmp_path, adj_close=lambda f: f["close"], open_again=lambda f: f["open"].astype("float32"))
    caplog.set_level(logging.WARNING)
    info = _inspect(path)
    # open_again is float32: not the same numbers as open, so it stays.
    assert info.features == ["open", "high", "low", "close", "volume", "open_again"]
    assert info.duplicates == {"adj_close": "close"}
    assert "adj_close" not in info.read_columns and set(info.transforms) == set(info.features)
    (message,) = _warnings(caplog)
    assert "'adj_close' (= 'close')" in message and "dropped" in message


def test_a_copy_of_an_earlier_feature_points_at_it_and_nulls_must_match(tmp_path, caplog):
    def with_gaps(f):
        values = f["high"].copy()
        values.iloc[::7] = np.nan
        return values

    path = _bars(tmp_path, high_copy=lambda f: f["high"] * 1.0, high_gaps=with_gaps, high_gaps_too=with_gaps)
    caplog.set_level(logging.WARNING)
    info = _inspect(path, nan_policy="ffill")
    assert info.duplicates == {"high_copy": "high", "high_gaps_too": "high_gaps"}
    assert info.features == ["open", "high", "low", "close", "volume", "high_gaps"]
    assert len(_warnings(caplog)) == 1


def test_a_named_duplicate_is_kept_with_a_warning(tmp_path, caplog):
    path = _bars(tmp_path, adj_close=lambda f: f["close"])
    caplog.set_level(logging.WARNING)
    info = _inspect(path, features=["open", "adj_close", "close"])
    assert info.features == ["open", "adj_close", "close"] and info.duplicates == {"adj_close": "close"}
    (message,) = _warnings(caplog)
    assert "'adj_close' (= 'close')" in message and "kept because data.features names it" in message
    caplog.clear()
    # Found automatically but in the checkpoint a run resumes: kept, so that its networks fit.
    info = _inspect(path, keep=["open", "high", "low", "close", "volume", "adj_close"])
    assert info.features == ["open", "high", "low", "close", "volume", "adj_close"]
    assert "kept because the resumed checkpoint names it" in _warnings(caplog)[0]


def test_equal_statistics_but_different_values_is_kept_silently(tmp_path, caplog):
    """The footers' min, max and null counts agree (the prefilter passes it on), the values do not."""
    def swapped(f):
        values = f["close"].to_numpy().copy()
        inner = np.argsort(values)[len(values) // 2:len(values) // 2 + 2]  # neither the min nor the max
        values[inner] = values[inner[::-1]]
        return values

    path = _bars(tmp_path, close_swapped=swapped)
    fs, files = list_parquet_files(path)
    statistics = read_footers(fs, files, []).statistics
    assert statistics["close_swapped"] == statistics["close"]
    caplog.set_level(logging.WARNING)
    info = _inspect(path)
    assert "close_swapped" in info.features and info.duplicates == {}
    assert _warnings(caplog) == []


@pytest.mark.parametrize("target", ["close", "adj_close"])
def test_the_target_is_always_the_one_kept(tmp_path, caplog, target):
    path = _bars(tmp_path, adj_close=lambda f: f["close"])
    info = _inspect(path, target=target)
    other = {"close": "adj_close", "adj_close": "close"}[target]
    assert target in info.features and other not in info.features
    assert info.duplicates == {other: target}
