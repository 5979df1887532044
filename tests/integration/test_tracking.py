"""Experiment tracking against a real MLflow store (SQLite: MLflow's file store is in maintenance mode),
read back with ``mlflow.search_runs``: a tiny training run, and a tiny sweep of two trials."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from lstmgan_ray.config import Config
from lstmgan_ray.train.driver import run_training
from tests.helpers import ROOT, TINY_MODEL, last_json, tiny_config

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory) -> str:
    """One store for the module: creating its tables takes MLflow a while."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


def _runs(uri: str, experiment: str) -> pd.DataFrame:
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(experiment_names=[experiment])
    finally:
        mlflow.set_tracking_uri(None)  # and MLFLOW_TRACKING_URI unset: later jobs must not inherit it


def test_training_run_logs_config_epochs_and_best_checkpoint(ray_local, bars_dir, tmp_path, tracking_uri):
    cfg = tiny_config(bars_dir, str(tmp_path / "runs"),
                      run={"tracking": "mlflow", "tracking_uri": tracking_uri, "experiment": "train"})
    outcome = run_training(Config.from_dict(cfg), verbose=False)

    runs = _runs(tracking_uri, "train")
    assert len(runs) == 1, runs  # the driver's run; rank 0 logged into it, not into a run of its own
    run = runs.iloc[0]
    assert run["status"] == "FINISHED" and run["tags.mlflow.runName"] == "tiny"
    assert run["tags.best_checkpoint"] == outcome.best_checkpoint and os.path.isdir(outcome.best_checkpoint)
    assert run["tags.lstmgan.run_dir"] == outcome.run_dir
    # The whole config, as --set names its keys.
    resolved = Config.from_dict(cfg).to_dict()
    assert run["params.train.epochs"] == "2" and run["params.model.generator_units"] == "[8, 8]"
    assert run["params.data.input_dim"] == "4" and run["params.run.tracking"] == "mlflow"
    assert {f"params.{s}.{k}" for s in resolved for k in resolved[s]} <= set(runs.columns)
    # Every epoch's metrics under metrics.csv's names, step = epoch.
    table = pd.read_csv(os.path.join(outcome.run_dir, "metrics.csv"))
    client = mlflow.tracking.MlflowClient(tracking_uri)
    for key in ("d_loss", "g_loss", "val_rmse", "val_crps", "val_coverage90", "windows_per_s", "workers"):
        history = sorted((m.step, m.value) for m in client.get_metric_history(run["run_id"], key))
        assert [step for step, _ in history] == list(table["epoch"]), key
        assert [value for _, value in history] == pytest.approx(list(table[key]), rel=1e-6), key
    best_epoch = int(os.path.basename(outcome.best_checkpoint).rsplit("_", 1)[1])
    assert table.loc[table["val_crps"].idxmin(), "epoch"] == best_epoch


def _sweep_file(tmp_path) -> str:
    """Two trials at once, one epoch each, on the tiny network."""
    sweep = {
        "base": os.path.join(ROOT, "configs", "default.yaml"),
        "data": {"input_dim": 4},
        "model": dict(TINY_MODEL),
        "train": {"epochs": 1, "batch_size": 32, "shuffle_buffer": 64},
        "run": {"max_failures": 0, "cpus_per_worker": 0.5, "experiment": "sweeps"},
        "search_space": {"train.g_learning_rate": {"grid": [3e-3, 1e-3]}},
        "tune": {"num_samples": 1, "max_concurrent_trials": 2, "driver_resources": {"CPU": 0.5},
                 "scheduler": {"type": "none"}},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return str(path)


def test_sweep_logs_one_parent_run_and_a_child_per_trial(bars_dir, tmp_path, ray_address, tracking_uri):
    storage = tmp_path / "sweeps"
    cmd = [sys.executable, os.path.join(ROOT, "jobs", "tune.py"), "--config", _sweep_file(tmp_path),
           "--data", bars_dir, "--storage-path", str(storage), "--name", "sw", "--tracking-uri", tracking_uri]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "RAY_ADDRESS": ray_address, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = last_json(proc.stdout)
    sweep_dir = str(storage / "sw")

    runs = _runs(tracking_uri, "sweeps")
    assert len(runs) == 3, runs[["run_id", "tags.mlflow.runName"]]  # no trial logged twice
    parents = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert len(parents) == 1
    parent = parents.iloc[0]
    assert parent["tags.mlflow.runName"] == "sw" and parent["status"] == "FINISHED"
    assert parent["tags.lstmgan.sweep_dir"] == sweep_dir and parent["params.train.epochs"] == "1"
    assert parent["tags.best_trial"] == summary["best_trial"]
    assert parent["tags.best_checkpoint"] == summary["best_checkpoint"]
    assert parent["metrics.best_val_crps"] == pytest.approx(summary["best_metrics"]["val_crps"])

    children = runs[runs["tags.mlflow.parentRunId"] == parent["run_id"]]
    assert len(children) == 2 and set(children["status"]) == {"FINISHED"}
    assert sorted(float(v) for v in children["params.train.g_learning_rate"]) == [1e-3, 3e-3]
    # Each child holds its trial's epoch, as the trial table has it.
    table = pd.read_csv(os.path.join(sweep_dir, "trials.csv"))
    assert len(table) == 2 and set(table["status"]) == {"completed"}
    by_lr = {float(c["params.train.g_learning_rate"]): c["metrics.val_crps"] for _, c in children.iterrows()}
    for _, row in table.iterrows():
        assert by_lr[row["train.g_learning_rate"]] == pytest.approx(row["best_val_crps"])

    # Tune's own loggers wrote nothing; each trial's training run wrote its files.
    for trial_id in table["trial_id"]:
        trial_dir = os.path.join(sweep_dir, f"trial_{trial_id}")
        assert not {"result.json", "progress.csv", "params.json"} & set(os.listdir(trial_dir))
        assert not [f for f in os.listdir(trial_dir) if f.startswith("events.out.tfevents")]
        assert len(pd.read_csv(os.path.join(trial_dir, "train", "metrics.csv"))) == 1
    with open(os.path.join(sweep_dir, "best.json")) as fh:
        assert json.load(fh)["trial_id"] == summary["best_trial"]
