"""Bad input found by the Ray Data pass or by training itself: still one clear error, and the
previous run byte-for-byte unchanged.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from tests.helpers import (
    SETS,
    frames,
    make_series,
    own_stderr,
    run_job,
    tree_digest,
    write_dataset,
)


def test_value_problems_all_reported_before_training(tmp_path, storage, ray_address):
    """NaN, inf and duplicate timestamps in different series: one run, every problem named."""
    a, b, c = frames()[0], frames()[1], make_series("CCC", 60, 10.0, 3)
    a.loc[10, "close"] = np.nan
    b.loc[20, "high"] = np.inf
    c = pd.concat([c, c.iloc[[5]]])  # a duplicated timestamp
    path = write_dataset(tmp_path / "vals", [a, b, c], files=2)
    before = tree_digest(storage)
    # Every numeric column a feature, so the problems planted in `high` count too.
    proc = run_job("train.py", "--data", path, *SETS, "--set", "data.features=all", "--storage-path", str(storage),
                   "--name", "new",
                   timeout=300, env={"RAY_ADDRESS": ray_address})
    assert proc.returncode == 2, proc.stderr[-2000:]
    for culprit in ("series AAA: column 'close': 1 NaN/inf", "series BBB: column 'high': 1 NaN/inf",
                    "series CCC: 1 duplicate timestamp", "data.nan_policy"):
        assert culprit in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "RayTrainWorker" not in proc.stdout + proc.stderr
    assert tree_digest(storage) == before


def test_too_few_windows_and_too_many_workers(tmp_path, storage, ray_address):
    path = write_dataset(tmp_path / "short", frames(n=20), files=2)
    before = tree_digest(storage)
    proc = run_job("train.py", "--data", path, *SETS, "--batch-size", "64",
                   "--storage-path", str(storage), "--name", "new", timeout=300, env={"RAY_ADDRESS": ray_address})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "fewer than one global batch (64)" in proc.stderr
    proc = run_job("train.py", "--data", path, *SETS, "--num-workers", "64", "--batch-size", "64",
                   "--storage-path", str(storage), "--name", "new", timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "needs 64 CPUs" in proc.stderr and "Traceback" not in proc.stderr
    assert tree_digest(storage) == before


def test_diverging_run_stops_with_epoch_and_step_and_keeps_no_bad_checkpoint(bars_dir, tmp_path, ray_address):
    """Run with --verbose: what Ray and TensorFlow print comes back (the quiet console: test_console)."""
    storage = tmp_path / "runs"
    proc = run_job("train.py", "--data", bars_dir, *SETS, "--batch-size", "16", "--epochs", "3", "--verbose",
                   "--set", "train.g_learning_rate=1e30", "--set", "train.d_learning_rate=1e30",
                   "--storage-path", str(storage), "--name", "nan", timeout=300, env={"RAY_ADDRESS": ray_address})
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "non-finite loss in epoch 1 at step 2 of 5" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in own_stderr(proc.stderr)
    both = proc.stdout + proc.stderr
    assert "(RayTrainWorker pid=" in both and "Reporting training result 1" in both
    run_dir = storage / "nan"
    assert not [d for d in os.listdir(run_dir) if d.startswith("checkpoint_")]
    history = pd.read_csv(run_dir / "metrics.csv")
    assert list(history["epoch"]) == [1] and history["diverged_at_step"].iloc[0] == 2
