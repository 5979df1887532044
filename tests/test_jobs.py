"""The job CLIs end to end, as users run them: a subprocess, its own local Ray, real Parquet."""

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from lstmgan_ray.checkpoint import REQUIRED_FILES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_SETS = ["model.generator_units=[8,8]", "model.generator_dense=[4]", "model.noise_dim=2",
             "model.discriminator_filters=[4,4]", "model.discriminator_kernels=[3,1]",
             "model.discriminator_dense=[8,8]", "data.input_dim=4", "run.max_failures=0"]


def run_job(script, *args, timeout=600, env=None):
    cmd = [sys.executable, os.path.join(ROOT, "jobs", script), *args]
    full_env = {**os.environ, "RAY_ADDRESS": "", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=full_env)
    proc.elapsed = time.perf_counter() - started
    return proc


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_train_cli_two_workers_on_multifile_parquet(bars_dir, tmp_path, ray_address):
    storage = tmp_path / "runs"
    proc = run_job("train.py", "--data", bars_dir, "--num-workers", "2", "--batch-size", "16",
                   "--epochs", "2", "--storage-path", str(storage), "--name", "cli",
                   *[a for s in TINY_SETS for a in ("--set", s)], env={"RAY_ADDRESS": ray_address})
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    summary = last_json(proc.stdout)
    assert summary["run_dir"] == str(storage / "cli")
    best = summary["best_checkpoint"]
    assert best.startswith(str(storage / "cli")) and os.path.basename(best).startswith("checkpoint_epoch_")
    assert sorted(os.listdir(best)) == sorted(REQUIRED_FILES)
    for key in ("epoch", "d_loss", "g_loss", "val_rmse", "val_rmse_persistence", "windows_per_s", "epoch_time_s"):
        assert key in summary["metrics"], key
    # One progress line per epoch reached the console.
    assert "epoch   1" in proc.stdout and "epoch   2" in proc.stdout
    history = pd.read_csv(storage / "cli" / "metrics.csv")
    assert list(history["epoch"]) == [1, 2]
    assert summary["metrics"]["val_rmse"] == pytest.approx(history["val_rmse"].min())
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(storage / "cli" / "tensorboard"))
    with open(os.path.join(best, "config.json")) as fh:
        saved = json.load(fh)
    assert saved["run"]["num_workers"] == 2 and saved["model"]["generator_units"] == [8, 8]

    # The user restarts the same run for one more epoch: it continues, it does not start over.
    proc = run_job("train.py", "--data", bars_dir, "--num-workers", "2", "--batch-size", "16",
                   "--epochs", "3", "--storage-path", str(storage), "--name", "cli", "--resume",
                   *[a for s in TINY_SETS for a in ("--set", s)], env={"RAY_ADDRESS": ray_address})
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "epoch   3" in proc.stdout and "epoch   1 " not in proc.stdout
    assert list(pd.read_csv(storage / "cli" / "metrics.csv")["epoch"]) == [1, 2, 3]
    assert last_json(proc.stdout)["epochs_reported"] == 3


def test_train_cli_rejects_bad_override_fast_without_traceback(tmp_path):
    proc = run_job("train.py", "--set", "train.batchsize=3", "--storage-path", str(tmp_path))
    assert proc.returncode == 2
    assert "did you mean 'batch_size'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.listdir(tmp_path)
