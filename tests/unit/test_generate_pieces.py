"""Generation's pure pieces (rollouts, held features, scalers, future timestamps) and its refusal
of bad flags, without Ray."""

import os

import numpy as np
import pandas as pd

from lstmgan_ray.cli.inference import generate_main
from lstmgan_ray.data.inference import extend_timestamps, hold_rows, merge_scaler
from lstmgan_ray.evaluate.generate import rollout
from tests.helpers import run_job

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
