"""Shared fixtures: small real Parquet datasets in tmp_path, a real local Ray, tiny configs,
and one tiny trained run that the train, generate and evaluate tests share."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# Ray Train's controller polls its workers every 2 s by default, so each report and the end of
# every run wait up to 2 s to be noticed; the tests' many short runs poll faster. Every Ray
# process the tests start (local instances, `ray start` heads, job subprocesses) inherits it.
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")

# Network shrunk through config only: the same code path as the reference design.
TINY_MODEL = {
    "generator_units": [8, 8], "generator_dense": [4], "noise_dim": 2,
    "discriminator_filters": [4, 4], "discriminator_kernels": [3, 1], "discriminator_dense": [8, 8],
}


def tiny_config(data_path: str, storage_path: str, **sections) -> dict:
    """A nested config dict for a fast run; ``sections`` update the defaults per section."""
    cfg = {
        "data": {"path": data_path, "input_dim": 4, "output_dim": 1},
        "model": dict(TINY_MODEL),
        "train": {"epochs": 2, "batch_size": 32, "shuffle_buffer": 64},
        "run": {"storage_path": storage_path, "name": "tiny", "max_failures": 0},
    }
    for section, values in sections.items():
        cfg[section].update(values)
    return cfg


def make_series(series_id: str, n: int, level: float, seed: int, start="2001-01-01") -> pd.DataFrame:
    """A geometric random walk of daily OHLCV bars at ``level``."""
    rng = np.random.default_rng(seed)
    volume = rng.integers(1, 1000, n).astype(np.float64)
    volume[::17] = 0.0  # zero-volume days: 'auto' must pick log1p_diff, not log returns
    close = level * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.abs(rng.normal(0, 0.005, n))
    return pd.DataFrame({
        "timestamp": pd.bdate_range(start, periods=n).astype("datetime64[us]"),
        "series_id": series_id,
        "open": close * (1 + rng.normal(0, 0.002, n)),
        "high": close * (1 + spread),
        "low": close * (1 - spread),
        "close": close,
        "volume": volume,
    })


BUNDLED_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "indices")
TRAINED_DAYS = 600

SERIES = {"AAA": (53, 100.0, 1), "BBB": (53, 5000.0, 2), "CCC": (41, 20.0, 3)}


def write_dataset(root, frames: list[pd.DataFrame], files: int = 3, seed: int = 0) -> str:
    """Write the concatenated frames as ``files`` shards with rows shuffled across them.

    Every series ends up spread over several files, in no particular order, so the
    pipeline must group and sort before windowing.
    """
    os.makedirs(root, exist_ok=True)
    df = pd.concat(frames, ignore_index=True)
    order = np.random.default_rng(seed).permutation(len(df))
    for i, idx in enumerate(np.array_split(order, files)):
        pq.write_table(pa.Table.from_pandas(df.iloc[np.sort(idx)], preserve_index=False),
                       os.path.join(root, f"part-{i}.parquet"))
    return str(root)


@pytest.fixture(scope="session")
def bars_frames() -> list[pd.DataFrame]:
    return [make_series(sid, n, level, seed) for sid, (n, level, seed) in SERIES.items()]


@pytest.fixture(scope="session")
def bars_dir(tmp_path_factory, bars_frames) -> str:
    return write_dataset(tmp_path_factory.mktemp("bars"), bars_frames)


@pytest.fixture(scope="session")
def ray_local():
    """One real local Ray instance for the session (4 logical CPUs on the 2-core machine)."""
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


def trained_config(data_path: str, storage_path: str, name: str = "trained") -> dict:
    """The shared run's config: noise and recurrent dropout on, every checkpoint kept."""
    return tiny_config(data_path, storage_path, run={"name": name, "keep_checkpoints": 4},
                       model={"recurrent_dropout": 0.3}, train={"epochs": 3})


@pytest.fixture(scope="session")
def trained(ray_local, tmp_path_factory) -> SimpleNamespace:
    """A real 3-epoch tiny run on the bundled data's last 600 days of each series (2016-08 to
    2018-12; a test split of ~90 days), its data and the raw frames it came from. Trained once
    per session: the resume test continues it from its first checkpoint, the generate and
    evaluate tests use its best one.
    """
    from lstmgan_ray.config import Config
    from lstmgan_ray.train import run_training

    root = tmp_path_factory.mktemp("trained")
    bundled = pd.read_parquet(BUNDLED_DATA)
    frames = [group.sort_values("timestamp").tail(TRAINED_DAYS).reset_index(drop=True)
              for _, group in bundled.groupby("series_id", sort=True)]
    data = write_dataset(root / "bars", frames, files=2)
    outcome = run_training(Config.from_dict(trained_config(data, str(root / "runs"))), verbose=False)
    return SimpleNamespace(data=data, checkpoint=outcome.best_checkpoint, run_dir=outcome.run_dir,
                           history=outcome.history, frames={f["series_id"].iloc[0]: f for f in frames})
