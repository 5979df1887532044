"""Bad input never reaches a training worker: the real CLI, each bad input, a clear error naming the culprit.

Every case runs ``jobs/train.py`` in a subprocess against a storage directory that already
holds a previous run, and checks the exit code, the culprit named on stderr, no traceback, no
Ray Train worker started, and the previous run byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import TINY_MODEL, make_series, write_dataset
from test_jobs import TINY_SETS, run_job

SETS = [a for s in TINY_SETS for a in ("--set", s)]


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


@pytest.fixture()
def storage(tmp_path):
    """A storage path holding an earlier run's files, which no failed run may touch."""
    root = tmp_path / "runs"
    ckpt = root / "earlier" / "checkpoint_epoch_0001"
    ckpt.mkdir(parents=True)
    (ckpt / "state.json").write_text('{"epoch": 1}')
    (root / "earlier" / "metrics.csv").write_text("epoch,val_rmse\n1,2.0\n")
    return root


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


# Failures found from Parquet footers and the config alone: no Ray at all.
FAST_CASES = [
    ("missing", [], "no such file or directory"),
    ("empty", [], "holds no Parquet files"),
    ("corrupt", [], "zz-bad.parquet: not a readable Parquet file"),
    ("unreadable", [], "zz-link.parquet: not a readable Parquet file"),
    ("no-filesystem", [], "no filesystem for foo://"),
    ("target-missing", [], "missing column(s) 'price'"),
    ("non-numeric", [], "feature column 'sector' is"),
    ("timestamp-type", [], "column 'timestamp' must be a timestamp or date"),
    ("conflicting-schema", [], "b.parquet: column 'close' is"),
    ("log-of-negative", [], "column 'close': transform log_return needs positive values"),
    ("missing", ["--set", "train.batchsize=3"], "did you mean 'batch_size'"),
    ("missing", ["--set", "train.epochs=zero"], "train.epochs"),
    ("missing", ["--set", "model.generator_units=[0,8]"], "generator_units must hold positive integers"),
    ("missing", ["--set", "train.d_learning_rate=-1"], "train.d_learning_rate"),
    ("missing", ["--set", "data.input_dim=0"], "data.input_dim"),
    ("missing", ["--set", "data.splits=[0.7,0.2,0.2]"], "summing to 1"),
    ("missing", ["--batch-size", "33", "--num-workers", "2"], "not divisible by run.num_workers=2"),
    ("missing", ["--set", "nosuch.key=1"], "unknown section 'nosuch'"),
]


@pytest.mark.parametrize("kind, extra, culprit", FAST_CASES,
                         ids=[f"{k}{'-' + e[1] if e else ''}" for k, e, _ in FAST_CASES])
def test_bad_input_fails_fast_naming_culprit(kind, extra, culprit, tmp_path, storage):
    before = tree_digest(storage)
    args = bad_dataset(kind, tmp_path / "data")
    proc = run_job("train.py", *args, *SETS, *extra, "--storage-path", str(storage), "--name", "new",
                   timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert culprit in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "RayTrainWorker" not in proc.stdout + proc.stderr
    assert proc.elapsed < 30, f"took {proc.elapsed:.1f}s to fail"
    assert tree_digest(storage) == before


def test_value_problems_all_reported_before_training(tmp_path, storage, ray_address):
    """NaN, inf and duplicate timestamps in different series: one run, every problem named."""
    a, b, c = frames()[0], frames()[1], make_series("CCC", 60, 10.0, 3)
    a.loc[10, "close"] = np.nan
    b.loc[20, "high"] = np.inf
    c = pd.concat([c, c.iloc[[5]]])  # a duplicated timestamp
    path = write_dataset(tmp_path / "vals", [a, b, c], files=2)
    before = tree_digest(storage)
    proc = run_job("train.py", "--data", path, *SETS, "--storage-path", str(storage), "--name", "new",
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


@pytest.fixture()
def checkpoint_dir(tmp_path):
    """A real checkpoint of the tiny network, written by the package's own save path."""
    from lstmgan_ray.checkpoint import save_checkpoint
    from lstmgan_ray.config import Config
    from lstmgan_ray.train import build_gan

    cfg = Config.from_dict({"data": {"input_dim": 4}, "model": TINY_MODEL}).to_dict()
    scaler = {"features": ["open", "high", "low", "close", "volume"], "target_index": 3}
    return save_checkpoint(str(tmp_path / "ckpt"), build_gan(cfg, scaler), scaler, cfg, 1, {})


@pytest.mark.parametrize("damage, extra, culprit", [
    ("not-a-checkpoint", [], "not a checkpoint, missing generator.keras"),
    ("truncated", [], "generator.keras: damaged or truncated"),
    ("other-architecture", ["--set", "model.generator_units=[16,8]"],
     "model.generator_units is [8, 8] in the checkpoint, [16, 8] now"),
    ("other-features", ["--set", "data.features=[close,volume]"], "features are ['open', 'high'"),
])
def test_bad_checkpoint_named_before_training(damage, extra, culprit, checkpoint_dir, tmp_path, storage):
    data = write_dataset(tmp_path / "d", frames(), files=2)
    if damage == "not-a-checkpoint":
        os.remove(os.path.join(checkpoint_dir, "generator.keras"))
    if damage == "truncated":
        path = os.path.join(checkpoint_dir, "generator.keras")
        with open(path, "rb") as fh:
            body = fh.read()
        with open(path, "wb") as fh:
            fh.write(body[: len(body) // 2])
    before = tree_digest(storage)
    proc = run_job("train.py", "--data", data, *SETS, *extra, "--resume-from", checkpoint_dir,
                   "--storage-path", str(storage), "--name", "new", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert culprit in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and proc.elapsed < 30
    assert tree_digest(storage) == before


def test_diverging_run_stops_with_epoch_and_step_and_keeps_no_bad_checkpoint(bars_dir, tmp_path, ray_address):
    storage = tmp_path / "runs"
    proc = run_job("train.py", "--data", bars_dir, *SETS, "--batch-size", "16", "--epochs", "3",
                   "--set", "train.g_learning_rate=1e30", "--set", "train.d_learning_rate=1e30",
                   "--storage-path", str(storage), "--name", "nan", timeout=300, env={"RAY_ADDRESS": ray_address})
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "non-finite loss in epoch 1 at step 2 of 5" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in own_stderr(proc.stderr)
    run_dir = storage / "nan"
    assert not [d for d in os.listdir(run_dir) if d.startswith("checkpoint_")]
    history = pd.read_csv(run_dir / "metrics.csv")
    assert list(history["epoch"]) == [1] and history["diverged_at_step"].iloc[0] == 2


def test_existing_run_is_refused_without_resume_or_overwrite(tmp_path, storage):
    data = write_dataset(tmp_path / "d", frames(), files=2)
    before = tree_digest(storage)
    proc = run_job("train.py", "--data", data, *SETS, "--storage-path", str(storage), "--name", "earlier",
                   timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "already holds a run (latest checkpoint_epoch_0001): pass --resume" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.elapsed < 30
    assert tree_digest(storage) == before
