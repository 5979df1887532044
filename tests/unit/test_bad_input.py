"""Bad input never reaches Ray: the real CLI, each bad input, a clear error naming the culprit.

Every case runs ``jobs/train.py`` in a subprocess against a storage directory that already
holds a previous run, and checks the exit code, the culprit named on stderr, no traceback, no
Ray Train worker started, and the previous run byte-for-byte unchanged.
"""

from __future__ import annotations

import os

import pytest

from tests.helpers import (
    SETS,
    TINY_MODEL,
    bad_dataset,
    frames,
    run_job,
    tree_digest,
    write_dataset,
)

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


@pytest.fixture()
def checkpoint_dir(tmp_path):
    """A real checkpoint of the tiny network, written by the package's own save path."""
    from lstmgan_ray.config import Config
    from lstmgan_ray.train.build import build_gan
    from lstmgan_ray.train.checkpoint import save_checkpoint

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


def test_existing_run_is_refused_without_resume_or_overwrite(tmp_path, storage):
    data = write_dataset(tmp_path / "d", frames(), files=2)
    before = tree_digest(storage)
    proc = run_job("train.py", "--data", data, *SETS, "--storage-path", str(storage), "--name", "earlier",
                   timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "already holds a run (latest checkpoint_epoch_0001): pass --resume" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.elapsed < 30
    assert tree_digest(storage) == before


def test_a_copy_of_the_target_is_dropped_with_a_warning_before_ray_starts(tmp_path, storage):
    """The warning comes from the footers and two columns' values, before Ray or TensorFlow load:
    here the run is then refused (its name is taken), and the warning was already on stderr."""
    data = write_dataset(tmp_path / "d", [f.assign(adj_close=f["close"]) for f in frames()], files=2)
    proc = run_job("train.py", "--data", data, *SETS, "--set", "data.features=null", "--storage-path", str(storage),
                   "--name", "earlier", timeout=120)
    assert proc.returncode == 2 and "already holds a run" in proc.stderr, proc.stderr[-2000:]
    assert "feature column(s) 'adj_close' (= 'close') in every row" in proc.stderr
    assert "dropped from the features" in proc.stderr and proc.elapsed < 30


def test_resuming_a_checkpoint_trained_with_a_copy_of_the_target_keeps_it(checkpoint_dir, tmp_path):
    """Checkpoints from before duplicates were dropped take adj_close as a feature: a run resumed
    from one keeps it (its networks need it); a new run on the same data drops it."""
    import json

    from lstmgan_ray.config import Config
    from lstmgan_ray.train.preflight import check_run

    data = write_dataset(tmp_path / "d", [f.assign(adj_close=f["close"]) for f in frames()], files=2)
    old = ["open", "high", "low", "close", "volume", "adj_close"]
    with open(os.path.join(checkpoint_dir, "scaler.json")) as fh:
        scaler = json.load(fh)
    with open(os.path.join(checkpoint_dir, "scaler.json"), "w") as fh:
        json.dump({**scaler, "features": old}, fh)
    cfg = Config.from_dict({"data": {"path": data, "input_dim": 4, "features": None}, "model": TINY_MODEL,
                            "run": {"storage_path": str(tmp_path / "runs"), "name": "next"}})
    assert check_run(cfg, resume_from=checkpoint_dir).info.features == old
    assert check_run(cfg).info.features == old[:-1]


def test_resume_of_a_run_that_is_not_there_is_refused_naming_it(tmp_path, storage):
    """A mistyped --name or --storage-path with --resume fails instead of starting a new run."""
    data = write_dataset(tmp_path / "d", frames(), files=2)
    before = tree_digest(storage)
    proc = run_job("train.py", "--data", data, *SETS, "--storage-path", str(storage), "--name", "earleir",
                   "--resume", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"--resume: there is no run at {storage / 'earleir'} to continue" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.elapsed < 30
    assert tree_digest(storage) == before and sorted(os.listdir(storage)) == ["earlier"]


def test_resume_checks_the_runs_latest_checkpoint_like_resume_from(checkpoint_dir, tmp_path, storage):
    """--resume reads the config and features of the run's latest complete checkpoint and refuses a
    network that differs, before Ray starts; a partial checkpoint (a copy cut short) is passed over."""
    import shutil

    data = write_dataset(tmp_path / "d", frames(), files=2)
    shutil.copytree(checkpoint_dir, storage / "earlier" / "checkpoint_epoch_0002")
    os.makedirs(storage / "earlier" / "checkpoint_epoch_0003")  # cut short: no config.json
    before = tree_digest(storage)
    proc = run_job("train.py", "--data", data, *SETS, "--set", "model.generator_units=[16,8]", "--storage-path",
                   str(storage), "--name", "earlier", "--resume", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"{storage / 'earlier' / 'checkpoint_epoch_0002'}: does not match this run" in proc.stderr
    assert "model.generator_units is [8, 8] in the checkpoint, [16, 8] now" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.elapsed < 30
    assert tree_digest(storage) == before


def test_resume_needs_a_checkpoint_and_finds_the_furthest(storage, tmp_path):
    """A run stopped before its first checkpoint cannot be continued (--overwrite starts it again); of a
    run's checkpoints the furthest counts, a just-in-time one within its epoch."""
    from lstmgan_ray.errors import ConfigError
    from lstmgan_ray.train.checkpoint import CONFIG_FILE, SCALER_FILE
    from lstmgan_ray.train.preflight import checkpoint_to_resume, latest_checkpoint

    run = storage / "earlier"  # its checkpoint_epoch_0001 holds state.json alone
    with pytest.raises(ConfigError, match=f"--resume: {run} holds no checkpoint to continue from"):
        checkpoint_to_resume(str(run))
    for name in ("checkpoint_epoch_0002", "checkpoint_preempt_epoch_0003_step_0005", "checkpoint_epoch_0010"):
        for file in (CONFIG_FILE, SCALER_FILE):
            (run / name).mkdir(exist_ok=True)
            (run / name / file).write_text("{}")
    assert latest_checkpoint(str(run)) == str(run / "checkpoint_epoch_0010")
    (run / "checkpoint_epoch_0010" / CONFIG_FILE).unlink()
    assert latest_checkpoint(str(run)) == str(run / "checkpoint_preempt_epoch_0003_step_0005")
    assert checkpoint_to_resume(str(run)) == str(run / "checkpoint_preempt_epoch_0003_step_0005")
