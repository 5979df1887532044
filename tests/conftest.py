"""Shared fixtures: small real Parquet datasets in tmp_path, a real local Ray, tiny configs,
and one tiny trained run that the train, generate and evaluate tests share."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# Ray Train's controller polls its workers every 2 s by default, so each report and the end of
# every run wait up to 2 s to be noticed; the tests' many short runs poll faster. Every Ray
# process the tests start (local instances, `ray start` heads, job subprocesses) inherits it.
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")

from tests.helpers import BUNDLED_DATA, SERIES, TRAINED_DAYS, make_series, trained_config, write_dataset
from tests.s3 import new_bucket, start_server, stop_server

TIERS = {"integration": ("slow",), "scenarios": ("slow", "scenario")}


def pytest_collection_modifyitems(items):
    """Tier by folder: integration and scenario tests start real Ray clusters, so they are ``slow``
    (``pytest -m "not slow"`` runs the unit tier alone)."""
    for item in items:
        for tier, marks in TIERS.items():
            if tier in item.path.parts:
                for mark in marks:
                    item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(autouse=True)
def _console_env_restored():
    """A job's command line run inside this process sets its console's environment in ``os.environ``
    (``lstmgan_ray.console.process_env``: quiet or verbose, for every process it starts); put it back
    after each test, so that one test's setting never leaks into the next one's subprocesses."""
    from lstmgan_ray.console import process_env

    keys = set(process_env(False)) | set(process_env(True))
    saved = {key: os.environ.get(key) for key in keys}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def bars_frames() -> list[pd.DataFrame]:
    return [make_series(sid, n, level, seed) for sid, (n, level, seed) in SERIES.items()]


@pytest.fixture(scope="session")
def bars_dir(tmp_path_factory, bars_frames) -> str:
    return write_dataset(tmp_path_factory.mktemp("bars"), bars_frames)


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto) on loopback for the session, endpoint and dummy credentials in
    the environment (``tests/s3.py``)."""
    server = start_server()
    yield server
    stop_server(server)


@pytest.fixture()
def bucket(s3_server) -> str:
    """``s3://<fresh bucket>`` on the session's S3 server."""
    return new_bucket(s3_server)


@pytest.fixture(scope="session")
def ray_local(s3_server):
    """One real local Ray instance for the session (4 logical CPUs on the 2-core machine). Started after
    the S3 server: every Ray process inherits its endpoint, as a cluster's nodes reach object storage."""
    import ray

    # address="local": never join a `ray start` head found on the machine (/tmp/ray/ray_current_cluster).
    ray.init(address="local", num_cpus=4, include_dashboard=False, configure_logging=False,
             log_to_driver=False, runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def ray_address(ray_local) -> str:
    """The session Ray's address: job subprocesses join it (RAY_ADDRESS), as submitted jobs do,
    instead of paying for a Ray instance of their own."""
    return ray_local.get_runtime_context().gcs_address


@pytest.fixture(scope="session")
def trained(ray_local, tmp_path_factory) -> SimpleNamespace:
    """A real 3-epoch tiny run on the bundled data's last 600 days of each series (2016-08 to
    2018-12; a test split of ~90 days), its data and the raw frames it came from. Trained once
    per session: the resume test continues it from its first checkpoint, the generate and
    evaluate tests use its best one.
    """
    from lstmgan_ray.config import Config
    from lstmgan_ray.train.driver import run_training

    root = tmp_path_factory.mktemp("trained")
    bundled = pd.read_parquet(BUNDLED_DATA)
    frames = [group.sort_values("timestamp").tail(TRAINED_DAYS).reset_index(drop=True)
              for _, group in bundled.groupby("series_id", sort=True)]
    data = write_dataset(root / "bars", frames, files=2)
    outcome = run_training(Config.from_dict(trained_config(data, str(root / "runs"))), verbose=False)
    return SimpleNamespace(data=data, checkpoint=outcome.best_checkpoint, run_dir=outcome.run_dir,
                           history=outcome.history, frames={f["series_id"].iloc[0]: f for f in frames})


@pytest.fixture()
def storage(tmp_path):
    """A storage path holding an earlier run's files, which no failed run may touch."""
    root = tmp_path / "runs"
    ckpt = root / "earlier" / "checkpoint_epoch_0001"
    ckpt.mkdir(parents=True)
    (ckpt / "state.json").write_text('{"epoch": 1}')
    (root / "earlier" / "metrics.csv").write_text("epoch,val_rmse\n1,2.0\n")
    return root
