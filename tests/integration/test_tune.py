"""One real interrupted-then-resumed Tune sweep end to end, on a local Ray."""

import json
import os
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import TINY_MODEL

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQUIRED_SEARCH_KEYS = {"train.g_learning_rate", "train.d_learning_rate", "train.loss", "train.supervised_weight",
                        "model.noise_dim", "data.input_dim", "train.batch_size", "model.width_multiplier"}


EPOCHS = 2


def _sweep_file(tmp_path) -> str:
    """Four trials, two at a time, on the tiny network; the grid fixes their order.

    The first two learn; the third (learning rate 1.0) is far worse at the first
    rung than those recorded before it, so ASHA stops it; the fourth (1e38)
    overflows to a non-finite loss and must fail without failing the sweep.
    """
    sweep = {
        "base": os.path.join(ROOT, "configs", "default.yaml"),
        "data": {"input_dim": 4},
        "model": dict(TINY_MODEL),
        "train": {"epochs": EPOCHS, "batch_size": 32, "shuffle_buffer": 64},
        # Half a CPU for each trial's driver and worker: two trials at once fit on two CPUs.
        "run": {"max_failures": 0, "cpus_per_worker": 0.5, "keep_checkpoints": 3},
        "search_space": {"train.g_learning_rate": {"grid": [3e-3, 1e-3, 1.0, 1e38]}},
        # Judged by the point forecast: on a 2-epoch tiny network, the diverging learning rate's wild
        # draws can score a better val_crps at the first rung than the barely trained ones.
        "tune": {"num_samples": 1, "max_concurrent_trials": 2, "driver_resources": {"CPU": 0.5}, "metric": "val_rmse",
                 "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2}},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return str(path)


def state_metric(checkpoint: str, metric: str = "val_rmse") -> float:
    """The metric a checkpoint was saved with (its state.json)."""
    with open(os.path.join(checkpoint, "state.json")) as fh:
        return json.load(fh)["metrics"][metric]


def _tune_cmd(sweep, data, storage, *extra):
    return [sys.executable, os.path.join(ROOT, "jobs", "tune.py"), "--config", sweep, "--data", data,
            "--storage-path", storage, "--name", "sw", *extra]


def _env(address):
    return {**os.environ, "RAY_ADDRESS": address, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _run_until_early_stop(cmd, address, timeout=420):
    """Start the sweep; once ASHA has stopped a trial, interrupt it as Ctrl+C would."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                            env=_env(address))
    lines, deadline, sent = [], time.monotonic() + timeout, False
    while True:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            proc.kill()
            pytest.fail("sweep did not stop a trial early in time:\n" + "".join(lines[-40:]))
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if not sent and " finished after epoch " in line and int(line.rsplit(" ", 1)[1]) < EPOCHS:
            proc.send_signal(signal.SIGINT)
            sent = True
    proc.wait(timeout=120)
    return proc.returncode, lines


def _started(lines):
    return {ln.split()[1] for ln in lines if ln.startswith("trial ") and " started: " in ln}


def _finished(lines):
    return {ln.split()[1] for ln in lines if ln.startswith("trial ") and (" finished after " in ln or
                                                                          ln.rstrip().endswith(" failed"))}


def test_sweep_stops_early_survives_a_failed_trial_resumes_and_exports_the_best(bars_dir, tmp_path, ray_address):
    from lstmgan_ray.train.checkpoint import load_checkpoint, read_json

    sweep, storage = _sweep_file(tmp_path), str(tmp_path / "sweeps")
    code, first = _run_until_early_stop(_tune_cmd(sweep, bars_dir, storage), ray_address)
    assert code == 130, "".join(first[-30:])
    assert json.loads(first[-1])["interrupted"] is True
    done_before = _finished(first)
    assert done_before, "".join(first)
    experiment = os.path.join(storage, "sw")
    before = {t: pd.read_csv(os.path.join(experiment, f"trial_{t}", "train", "metrics.csv"))
              for t in done_before if os.path.exists(os.path.join(experiment, f"trial_{t}", "train", "metrics.csv"))}

    proc = subprocess.run(_tune_cmd(sweep, bars_dir, storage, "--resume"), capture_output=True, text=True,
                          cwd=ROOT, env=_env(ray_address), timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    second = proc.stdout.splitlines(keepends=True)
    # Trials that had finished are not run again; the rest are.
    assert not (_started(second) & done_before)
    assert _started(second)

    table = pd.read_csv(os.path.join(experiment, "trials.csv"))
    assert len(table) == 4 and set(table["status"]) <= {"completed", "stopped early", "failed"}
    by_lr = table.set_index("train.g_learning_rate")
    assert by_lr.loc[1e38, "status"] == "failed" and "non-finite" in by_lr.loc[1e38, "error"]
    assert (table["status"] == "stopped early").sum() >= 1
    stopped = table[table["status"] == "stopped early"]
    assert (stopped["epochs"] < EPOCHS).all()
    # Every trial's epochs were reported once each, across the interruption.
    for trial_id in table["trial_id"]:
        metrics_csv = os.path.join(experiment, f"trial_{trial_id}", "train", "metrics.csv")
        if os.path.exists(metrics_csv):
            epochs = list(pd.read_csv(metrics_csv)["epoch"])
            assert epochs == list(range(1, len(epochs) + 1)), (trial_id, epochs)
    for trial_id, frame in before.items():
        pd.testing.assert_frame_equal(
            pd.read_csv(os.path.join(experiment, f"trial_{trial_id}", "train", "metrics.csv")), frame)

    summary = json.loads(second[-1])
    best_row = table.loc[table["best_val_rmse"].idxmin()]  # the sweep's metric picks the best
    assert summary["best_trial"] == best_row["trial_id"]
    assert summary["best_metrics"]["val_rmse"] == pytest.approx(best_row["best_val_rmse"])
    assert state_metric(summary["best_checkpoint"]) == pytest.approx(best_row["best_val_rmse"])
    assert summary["best_config"]["train"]["g_learning_rate"] == pytest.approx(best_row["train.g_learning_rate"])
    best_dir = summary["best_checkpoint"]
    assert best_dir == os.path.join(experiment, "best")
    loaded = load_checkpoint(best_dir)
    assert loaded.config["train"]["g_learning_rate"] == pytest.approx(best_row["train.g_learning_rate"])
    state = read_json(best_dir, "state.json")
    assert state["metrics"]["val_rmse"] == pytest.approx(summary["best_metrics"]["val_rmse"])
    with open(os.path.join(experiment, "best.json")) as fh:
        best_json = json.load(fh)
    assert best_json["metrics"] == summary["best_metrics"] and best_json["config"] == summary["best_config"]
    assert np.isfinite(summary["best_metrics"]["val_rmse"])
