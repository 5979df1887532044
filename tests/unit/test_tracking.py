"""Experiment tracking settings and its failures before training: the keys and flags, MLflow missing,
an unreachable tracking server, and a worker whose logging fails. No Ray cluster starts here."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from lstmgan_ray.cli.common import common_flags
from lstmgan_ray.cli.train import train_parser
from lstmgan_ray.cli.tune import tune_parser
from lstmgan_ray.config import Config, ConfigError, load_config
from tests.helpers import ROOT, SETS, frames, write_dataset


def _run_keys(parser, argv):
    args = parser.parse_args(argv)
    cfg = load_config(None, args.overrides, **common_flags(args))
    return cfg.run.tracking, cfg.run.tracking_uri, cfg.run.experiment


@pytest.mark.parametrize("parser", [train_parser, tune_parser])
def test_tracking_keys_and_flags(parser):
    assert _run_keys(parser(), []) == ("none", None, "lstmgan-ray")
    assert _run_keys(parser(), ["--tracking", "mlflow"]) == ("mlflow", None, "lstmgan-ray")
    # A tracking URI alone asks for tracking; --tracking none still turns it off.
    assert _run_keys(parser(), ["--tracking-uri", "http://mlflow:5000"])[:2] == ("mlflow", "http://mlflow:5000")
    assert _run_keys(parser(), ["--tracking", "none", "--tracking-uri", "http://x"])[0] == "none"
    assert _run_keys(parser(), ["--set", "run.experiment=gans"])[2] == "gans"
    with pytest.raises(SystemExit):
        parser().parse_args(["--tracking", "wandb"])
    with pytest.raises(ConfigError, match="run.tracking"):
        Config.from_dict({"run": {"tracking": "wandb"}})
    with pytest.raises(ConfigError, match="run.experiment"):
        Config.from_dict({"run": {"experiment": ""}})


@pytest.mark.parametrize("job", ["train_main", "tune_main"])
def test_tracking_without_mlflow_installed_fails_at_once_naming_the_extra(job, tmp_path):
    """As if the extra were not installed (None in sys.modules: ``import mlflow`` fails): both jobs refuse
    before Ray, TensorFlow or the data are touched, and name the install command."""
    code = ("import sys; sys.modules['mlflow'] = None\n"
            f"from lstmgan_ray.cli import {job}\n"
            f"code = {job}(['--tracking', 'mlflow', '--data', {str(tmp_path / 'none')!r}])\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'ray'}))\n"
            "sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.returncode == 2, proc.stderr
    assert 'pip install "lstmgan-ray[mlflow]"' in proc.stderr and "run.tracking=mlflow" in proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_tracking_server_fails_the_run_before_it_starts(tmp_path, monkeypatch, capsys):
    """Nothing is lost yet: the command exits 2 naming the server, and leaves no run behind."""
    from lstmgan_ray.cli import train_main

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # refused at once instead of retried
    data = write_dataset(tmp_path / "bars", frames(), files=1)
    uri = f"http://127.0.0.1:{_closed_port()}"
    code = train_main(["--data", data, "--storage-path", str(tmp_path / "runs"), "--name", "r",
                       "--tracking-uri", uri, "--epochs", "1", *SETS])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"MLflow tracking at {uri} failed" in err and "--tracking" in err
    assert not (tmp_path / "runs" / "r").exists()


@pytest.fixture()
def mlflow_globals(monkeypatch):
    """``setup_mlflow`` sets MLflow's process-wide tracking URI (and MLFLOW_TRACKING_URI, MLFLOW_RUN_ID):
    put them back after the test."""
    import mlflow

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    yield
    mlflow.set_tracking_uri(None)


def test_a_worker_whose_tracking_fails_warns_and_trains_on(monkeypatch, capsys, mlflow_globals):
    """Rank 0's ``setup_mlflow`` against a server that is gone: a warning, then logging is a no-op."""
    from lstmgan_ray.train.tracking import start_tracking

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    target = {"uri": f"http://127.0.0.1:{_closed_port()}", "experiment_id": "1", "run_id": "0" * 32}
    log = start_tracking(target, Config().to_dict())
    log.log_epoch({"epoch": 1, "val_crps": 0.5})
    err = capsys.readouterr().err
    assert "warning: MLflow logging is off for this run" in err and "training goes on" in err
    assert err.count("warning:") == 1


def test_a_relative_local_store_is_made_absolute_for_the_workers(tmp_path, monkeypatch, mlflow_globals):
    from lstmgan_ray.train.tracking import resolve_tracking_uri

    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri("sqlite:///mlflow.db") == f"sqlite:///{tmp_path}/mlflow.db"
    assert resolve_tracking_uri("sqlite:////abs/m.db") == "sqlite:////abs/m.db"
    assert resolve_tracking_uri("mlruns") == f"{tmp_path}/mlruns"
    assert resolve_tracking_uri("http://mlflow:5000") == "http://mlflow:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path}/env.db"


def test_a_continued_sweep_reopens_its_parent_run(tmp_path, capsys):
    """On a real SQLite store: the parent run carries the base config and its sweep's directory; a
    continued sweep finds it again (running again); another directory's sweep finds none, and says so."""
    from mlflow.tracking import MlflowClient

    from lstmgan_ray.tune.tracking import SWEEP_DIR_TAG, find_parent, open_parent

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    base = Config.from_dict({"run": {"tracking": "mlflow", "tracking_uri": uri, "experiment": "e"}})
    parent = open_parent(base, "sw", "/sweeps/sw")
    client = MlflowClient(uri)
    run = client.get_run(parent.run_id)
    assert run.data.tags[SWEEP_DIR_TAG] == "/sweeps/sw" and run.info.run_name == "sw"
    assert run.data.params["train.epochs"] == "10" and len(run.data.params) == sum(
        len(body) for body in base.to_dict().values())
    client.set_terminated(parent.run_id, "KILLED")  # as an interrupted sweep leaves it
    again = find_parent(uri, "e", "/sweeps/sw")
    assert again == parent and client.get_run(parent.run_id).info.status == "RUNNING"
    assert find_parent(uri, "e", "/sweeps/other") is None
    assert "logs to no MLflow run of its own" in capsys.readouterr().err
