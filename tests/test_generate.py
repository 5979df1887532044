"""Batch generation: rollout semantics, the Parquet it writes in both modes, and bad input.

They use the session's tiny trained run (conftest ``trained``): the bundled data's last 600
days of each series, long enough for a test split of ~90 days.
"""

import os
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import TRAINED_DAYS, write_dataset
from test_jobs import last_json, run_job

from lstmgan_ray.checkpoint import GENERATOR_FILE, CheckpointError, load_checkpoint
from lstmgan_ray.cli_inference import generate_main
from lstmgan_ray.config import ConfigError
from lstmgan_ray.data import DataError, make_spec, series_windows, split_sizes
from lstmgan_ray.generate import OUTPUT_COLUMNS, rollout, run_generate
from lstmgan_ray.inference_data import extend_timestamps, hold_rows, merge_scaler

T = 4  # tiny_config's window


def test_rollout_feeds_generated_targets_back_and_holds_other_features():
    seen = []

    def step(window, index):  # a deterministic forecaster: two steps ahead, values from the rollout index
        seen.append(window.copy())
        return np.full((len(window), 2), 10.0 * (index + 1), np.float32) + np.arange(2)

    x = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    hold = np.array([[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]], np.float32)
    out = rollout(step, x, hold, steps=5, target_index=1)
    np.testing.assert_array_equal(out, [[10, 11, 20, 21, 30]] * 2)
    assert len(seen) == 3  # 5 steps at 2 per call
    np.testing.assert_array_equal(seen[0], x)
    # Second call: the window slid by two; the new rows are the hold row with the target replaced.
    np.testing.assert_array_equal(seen[1][:, 0], x[:, 2])
    np.testing.assert_array_equal(seen[1][:, 1:, [0, 2]], np.repeat(hold[:, None, [0, 2]], 2, axis=1))
    np.testing.assert_array_equal(seen[1][:, 1:, 1], [[10, 11]] * 2)
    np.testing.assert_array_equal(seen[2][:, :, 1], [[11, 20, 21]] * 2)


def test_hold_rows_mean_no_change_in_transformed_space():
    x = np.array([[[0.5, 7.0], [0.1, 9.0]]], np.float32)
    # A change feature's "no change" is a transformed value of 0, i.e. -mean/std once scaled;
    # a level feature (transform none) keeps its last value.
    hold = hold_rows(x, mean=[0.002, 3.0], std=[0.01, 2.0], transforms=["log_return", "none"])
    np.testing.assert_allclose(hold, [[-0.2, 9.0]])


def test_merge_scaler_keeps_checkpoint_scaler_and_puts_new_rows_in_test():
    saved = {"mean": [1.0], "std": [2.0], "n_train": 70, "n_val": 15, "n_test": 15, "rows": 100}
    fresh = {"mean": [9.0], "std": [9.0], "n_train": 84, "n_val": 18, "n_test": 18, "rows": 120, "problems": []}
    merged = merge_scaler(saved, fresh)
    assert (merged["mean"], merged["std"]) == ([1.0], [2.0])
    assert (merged["n_train"], merged["n_val"], merged["n_test"]) == (70, 15, 35)
    assert merge_scaler(None, fresh) is fresh  # an unseen series: its own training-split fit


def test_extend_timestamps_steps_over_weekends_and_holidays():
    days = pd.bdate_range("2018-12-17", "2018-12-31").drop(pd.Timestamp("2018-12-25")).to_numpy()
    nxt = extend_timestamps(days, 3)
    assert list(pd.DatetimeIndex(nxt).strftime("%a %d")) == ["Tue 01", "Wed 02", "Thu 03"]


def _test_windows_reference(trained, loaded) -> pd.DataFrame:
    """The training pipeline's pure windowing of each raw series, with the checkpoint's scaler."""
    scaler = loaded.scaler
    spec = make_spec(loaded.config["data"], scaler["features"], scaler["transforms"])
    parts = []
    for sid, frame in trained.frames.items():
        w = series_windows(frame, spec, scaler["series"][sid])
        test = w["split"] == "test"
        parts.append(pd.DataFrame({"series_id": sid, "timestamp": w["timestamp"][test], "last": w["last"][test],
                                   "mu": w["mu"][test], "sd": w["sd"][test], "y": w["y"][test, 0],
                                   "x": list(w["x"][test])}))
    return pd.concat(parts, ignore_index=True)


def test_forecast_writes_documented_parquet_in_original_units(trained, tmp_path):
    out = tmp_path / "fc"
    summary = run_generate(trained.checkpoint, trained.data, str(out), mode="forecast", paths=3, horizon=2,
                           batch_size=64, verbose=False)
    df = pq.read_table(out).to_pandas()
    assert tuple(df.columns) == OUTPUT_COLUMNS
    # Rows: every test window x 3 paths x 2 steps; test windows counted from the split sizes.
    n_windows = sum(split_sizes(len(f) - 1, (0.7, 0.15, 0.15))[2] - T for f in trained.frames.values())
    assert summary["rows"] == len(df) == n_windows * 3 * 2
    assert summary["windows"] == n_windows and set(df["split"]) == {"test"}

    for sid, frame in trained.frames.items():
        got = df[df["series_id"] == sid]
        close = frame.set_index("timestamp")["close"]
        known = got["timestamp"].isin(close.index)
        # Actual values are the real closes; steps past the data have none and a later timestamp.
        np.testing.assert_allclose(got.loc[known, "actual"], close[got.loc[known, "timestamp"]].to_numpy())
        assert got.loc[~known, "actual"].isna().all()
        assert (got.loc[~known, "timestamp"] > frame["timestamp"].max()).all() and (~known).sum() == 3
        # Original units: forecasts sit at the series' level (NASDAQ ~7000, SP500 ~2700), not at scaled values.
        assert np.median(np.abs(got["value"] / close[got["origin"]].to_numpy() - 1)) < 0.05
        assert ((got["timestamp"] > got["origin"]) & (got["step"].isin([1, 2]))).all()
    # The noise input makes paths differ; the point forecast is one per window and step.
    spread = df.groupby(["series_id", "origin", "step"])["value"].std()
    assert (spread > 0).all()
    assert (df.groupby(["series_id", "origin", "step"])["point"].nunique() == 1).all()

    # The step-1 point forecast is the checkpoint's generator at zero noise on the test window
    # that the training pipeline's own windowing cuts, inverted by hand: last * exp(y * sd + mu).
    loaded = load_checkpoint(trained.checkpoint)
    ref = _test_windows_reference(trained, loaded)
    x = np.stack(ref["x"].to_numpy()).astype(np.float32)
    noise = np.zeros((*x.shape[:2], loaded.config["model"]["noise_dim"]), np.float32)
    y = loaded.generator.predict(np.concatenate([x, noise], -1), verbose=0)[:, 0]
    ref["expected"] = ref["last"] * np.exp(y * ref["sd"] + ref["mu"])
    ref["timestamp"] = ref["timestamp"].astype("datetime64[us]")
    step1 = df[(df["step"] == 1) & (df["path"] == 0)].merge(ref, on=["series_id", "timestamp"])
    assert len(step1) == n_windows
    np.testing.assert_allclose(step1["point"], step1["expected"], rtol=1e-5)
    np.testing.assert_allclose(step1["actual"], step1["last"] * np.exp(step1["y"] * step1["sd"] + step1["mu"]),
                               rtol=1e-6)  # y is float32


def test_bad_input_is_refused_before_any_work(trained, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.parquet").write_text("earlier results")
    with pytest.raises(ConfigError, match="already holds files; pass --overwrite"):
        run_generate(trained.checkpoint, trained.data, str(out), verbose=False)
    assert (out / "keep.parquet").read_text() == "earlier results"

    broken = tmp_path / "ckpt"
    broken.mkdir()
    for name in os.listdir(trained.checkpoint):
        if name != GENERATOR_FILE:
            shutil.copy(os.path.join(trained.checkpoint, name), broken / name)
    with pytest.raises(CheckpointError, match="missing generator.keras"):
        run_generate(str(broken), trained.data, str(tmp_path / "a"), verbose=False)

    no_volume = write_dataset(tmp_path / "novol", [f.drop(columns="volume") for f in trained.frames.values()])
    with pytest.raises((DataError, CheckpointError), match="volume"):
        run_generate(trained.checkpoint, no_volume, str(tmp_path / "b"), verbose=False)
    with pytest.raises(ConfigError, match="--mode 'sample'.*\n.*--paths must be >= 1"):
        run_generate(trained.checkpoint, trained.data, str(tmp_path / "c"), paths=0, mode="sample", verbose=False)
    assert not any((tmp_path / n).exists() for n in "abc")


def test_synthesize_cli_rolls_whole_paths_from_the_first_test_window(trained, tmp_path, capsys):
    """The command line in synthesize mode (in-process on the session's Ray: a subprocess would add a Ray start)."""
    code = generate_main(["--checkpoint", trained.checkpoint, "--data", trained.data, "--out", str(tmp_path / "syn"),
                          "--mode", "synthesize", "--paths", "3", "--seed", "7"])
    stdout = capsys.readouterr().out
    assert code == 0
    summary = last_json(stdout)
    steps = summary["horizon"]
    # By default the paths run from the first test window to the end of the data.
    assert steps == split_sizes(TRAINED_DAYS - 1, (0.7, 0.15, 0.15))[2] - T and summary["windows"] == 2
    assert f"synthesize: wrote {2 * 3 * steps} rows" in stdout
    df = pq.read_table(summary["out"]).to_pandas()
    assert len(df) == summary["rows"] == 2 * 3 * steps
    assert df["point"].isna().all()
    for sid, frame in trained.frames.items():
        got = df[df["series_id"] == sid].sort_values(["path", "step"])
        real = frame.iloc[-steps:]  # the test days after the seed window
        for _, path in got.groupby("path"):
            assert list(path["step"]) == list(range(1, steps + 1))
            np.testing.assert_array_equal(path["timestamp"].to_numpy(), real["timestamp"].to_numpy())
            np.testing.assert_allclose(path["actual"], real["close"])
            assert (path["origin"] == frame["timestamp"].iloc[-steps - 1]).all()
        paths = got.pivot(index="path", columns="step", values="value").to_numpy()
        assert np.isfinite(paths).all() and (paths > 0).all()
        assert not np.allclose(paths[0], paths[1])  # distinct scenarios
        moves = np.abs(np.diff(np.log(paths), axis=1))
        assert moves.max() < 0.5 and moves.mean() > 1e-5  # daily moves: neither level jumps nor a flat line


def test_generate_job_rejects_bad_input_with_exit_code_2_and_no_traceback(tmp_path, capsys):
    """jobs/generate.py as users run it: a bad checkpoint is one line on stderr, before Ray or TensorFlow."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.parquet").write_text("x")
    proc = run_job("generate.py", "--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "out"),
                   "--paths", "0")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "--paths must be >= 1" in proc.stderr and "Traceback" not in proc.stderr
    assert os.listdir(tmp_path / "out") == ["old.parquet"]
    # In-process, the same entry point: a missing checkpoint is named, nothing is created.
    assert generate_main(["--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "new")]) == 2
    assert "not a checkpoint directory" in capsys.readouterr().err and not (tmp_path / "new").exists()
