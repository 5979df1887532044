"""What the tests share besides fixtures: tiny configs, synthetic bars written as real Parquet,
the job runner, and digests that prove a failed job left earlier results untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository
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


SETS = [a for s in TINY_SETS for a in ("--set", s)]


# Network shrunk through config only: the same code path as the reference design.
TINY_MODEL = {
    "generator_units": [8, 8], "generator_dense": [4], "noise_dim": 2,
    "discriminator_filters": [4, 4], "discriminator_kernels": [3, 1], "discriminator_dense": [8, 8],
}


def tiny_config(data_path: str, storage_path: str, **sections) -> dict:
    """A nested config dict for a fast run; ``sections`` update the defaults per section."""
    cfg = {
        # Every numeric column a feature, so rollouts, hold rows and column checks are exercised.
        "data": {"path": data_path, "input_dim": 4, "output_dim": 1, "features": "all"},
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


BUNDLED_DATA = os.path.join(ROOT, "data", "indices")
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


def trained_config(data_path: str, storage_path: str, name: str = "trained") -> dict:
    """The shared run's config: noise and recurrent dropout on, every checkpoint kept."""
    return tiny_config(data_path, storage_path, run={"name": name, "keep_checkpoints": 4},
                       model={"recurrent_dropout": 0.3}, train={"epochs": 3})


def own_stderr(stderr: str) -> str:
    """stderr without the lines Ray forwards from its actors, e.g. '(TrainController pid=1) ...'."""
    return "\n".join(line for line in stderr.splitlines() if " pid=" not in line)


def tree_digest(root) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def frames(n=60):
    return [make_series("AAA", n, 100.0, 1), make_series("BBB", n, 50.0, 2)]


def write_table(path, df):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)


def bad_dataset(kind: str, root) -> list[str]:
    """Build one bad input under ``root``; return the CLI arguments that point at it."""
    root = str(root)
    good = write_dataset(os.path.join(root, "good"), frames(), files=2)
    if kind == "missing":
        return ["--data", os.path.join(root, "nope")]
    if kind == "empty":
        os.makedirs(os.path.join(root, "empty"))
        return ["--data", os.path.join(root, "empty")]
    if kind == "corrupt":
        with open(os.path.join(good, "zz-bad.parquet"), "wb") as fh:
            fh.write(b"this is not parquet")
        return ["--data", good]
    if kind == "unreadable":
        os.symlink(os.path.join(root, "gone.parquet"), os.path.join(good, "zz-link.parquet"))
        return ["--data", good]
    if kind == "no-filesystem":
        return ["--data", "foo://bucket/bars/"]
    if kind == "target-missing":
        return ["--data", good, "--target", "price"]
    if kind == "non-numeric":
        df = frames()[0].assign(sector="tech")
        write_table(os.path.join(root, "nn", "a.parquet"), df)
        return ["--data", os.path.join(root, "nn"), "--set", "data.features=[open,sector]"]
    if kind == "timestamp-type":
        df = frames()[0]
        df["timestamp"] = df["timestamp"].astype(str)
        write_table(os.path.join(root, "ts", "a.parquet"), df)
        return ["--data", os.path.join(root, "ts")]
    if kind == "conflicting-schema":
        a, b = frames()
        b["close"] = b["close"].astype(str)
        write_table(os.path.join(root, "cs", "a.parquet"), a)
        write_table(os.path.join(root, "cs", "b.parquet"), b)
        return ["--data", os.path.join(root, "cs")]
    if kind == "log-of-negative":
        a = frames()[0]
        a["close"] = a["close"] - 150.0
        write_table(os.path.join(root, "neg", "a.parquet"), a)
        return ["--data", os.path.join(root, "neg")]
    raise ValueError(kind)


def unloadable_copy(checkpoint: str, root) -> str:
    """The checkpoint with a generator that passes every file check (a whole zip) but cannot be loaded:
    a job using it fails only once its actors start, long after it claimed its output."""
    broken = os.path.join(str(root), "unloadable")
    shutil.copytree(checkpoint, broken)
    with zipfile.ZipFile(os.path.join(broken, "generator.keras"), "w") as zf:
        zf.writestr("config.json", "this is no model")
    return broken
