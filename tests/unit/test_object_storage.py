"""Checkpoints and results files on object storage: a real S3-compatible server (moto) on loopback.

No Ray: the checkpoint checks, loading, whole-or-nothing writes and the staged swap, on a local
disk and on the S3 server alike.
"""

from __future__ import annotations

import json
import os
import tempfile

import pyarrow.fs as pafs
import pytest

from lstmgan_ray.errors import CheckpointError
from lstmgan_ray.storage import (
    COMPLETE_MARKER,
    as_uri,
    copy_tree,
    filesystem_for,
    join,
    list_files,
    parent,
    read_bytes,
    replacing,
    staged_output,
    write_atomic,
)
from lstmgan_ray.train.checkpoint import (
    GENERATOR_FILE,
    check_compatible,
    load_checkpoint,
    read_json,
    verify_checkpoint,
)
from tests.helpers import TINY_MODEL
from tests.s3 import with_options

FEATURES = ["open", "high", "low", "close", "volume"]


@pytest.fixture(scope="module")
def local_checkpoint(tmp_path_factory):
    """A real checkpoint of the tiny network, written by the package's own save path."""
    from lstmgan_ray.config import Config
    from lstmgan_ray.train.build import build_gan
    from lstmgan_ray.train.checkpoint import save_checkpoint

    cfg = Config.from_dict({"data": {"input_dim": 4}, "model": TINY_MODEL}).to_dict()
    scaler = {"features": FEATURES, "target_index": 3}
    path = save_checkpoint(str(tmp_path_factory.mktemp("ckpt") / "c"), build_gan(cfg, scaler), scaler, cfg, 1, {})
    return path, cfg


def names_under(uri: str) -> list[str]:
    fs, root = filesystem_for(uri)
    return sorted(i.path[len(root) + 1:] for i in fs.get_file_info(pafs.FileSelector(root, recursive=True))
                  if i.type == pafs.FileType.File)


def test_paths_keep_a_uris_scheme_and_options():
    uri = "s3://bkt/runs?endpoint_override=127.0.0.1:9000&scheme=http"
    assert join(uri, "a", "checkpoint_epoch_0001") == "s3://bkt/runs/a/checkpoint_epoch_0001?endpoint_override=" \
                                                      "127.0.0.1:9000&scheme=http"
    assert parent(join(uri, "a")) == uri
    assert as_uri("bkt/runs/a/checkpoint_epoch_0001", "s3://bkt/runs") == "s3://bkt/runs/a/checkpoint_epoch_0001"
    assert as_uri("/abs/runs/a", "/abs/runs") == "/abs/runs/a"
    assert join("/abs/runs/", "a") == "/abs/runs/a"


def test_a_checkpoint_on_s3_is_verified_checked_and_loaded(local_checkpoint, bucket, s3_server, tmp_path,
                                                            monkeypatch):
    path, cfg = local_checkpoint
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the download goes
    uri = join(bucket, "runs", "a", "checkpoint_epoch_0001")
    copy_tree(path, uri)
    for given in (uri, with_options(uri, s3_server)):  # the endpoint from the environment, or in the URI
        verify_checkpoint(given)
        check_compatible(given, cfg, FEATURES)
        assert read_json(given, "state.json")["epoch"] == 1
    loaded = load_checkpoint(uri)
    assert loaded.path == uri and loaded.generator.count_params() > 0 and loaded.config["model"] == cfg["model"]
    # The download was temporary: nothing of it is left beside the models.
    assert not os.listdir(tmp_path)


def test_uris_that_are_not_checkpoints_are_refused_by_name(local_checkpoint, bucket):
    path, cfg = local_checkpoint
    nothing = join(bucket, "nothing")
    with pytest.raises(CheckpointError, match=f"{nothing}: not a checkpoint directory"):
        verify_checkpoint(nothing)
    partial = join(bucket, "partial")
    copy_tree(path, partial)
    fs, inner = filesystem_for(join(partial, GENERATOR_FILE))
    fs.delete_file(inner)
    with pytest.raises(CheckpointError, match=f"{partial}: not a checkpoint, missing generator.keras"):
        verify_checkpoint(partial)
    with pytest.raises(CheckpointError, match=f"{partial}: not a checkpoint, missing generator.keras"):
        load_checkpoint(partial)
    truncated = join(bucket, "truncated")
    copy_tree(path, truncated)
    write_atomic(join(truncated, GENERATOR_FILE), read_bytes(join(path, GENERATOR_FILE))[:200])
    with pytest.raises(CheckpointError, match=f"{truncated}/generator.keras: damaged or truncated"):
        verify_checkpoint(truncated)
    other = {**cfg, "model": {**cfg["model"], "generator_units": [16, 8]}}
    with pytest.raises(CheckpointError, match=f"{truncated}: does not match this run:\n  model.generator_units"):
        check_compatible(truncated, other, FEATURES)


def test_a_copy_of_a_checkpoint_is_named_as_the_user_gave_it(local_checkpoint, tmp_path):
    """An actor loads a local checkpoint from a copy of its files (shipped through Ray's object store):
    what it reports, and every error about it, names the checkpoint the user gave, never the copy."""
    path, _ = local_checkpoint
    copy = tmp_path / "copy"
    copy_tree(path, str(copy))
    assert load_checkpoint(str(copy), shown_as=path).path == path
    (copy / "scaler.json").write_text("{not json")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(str(copy), shown_as=path)
    assert str(err.value).startswith(f"{join(path, 'scaler.json')}: unreadable") and str(copy) not in str(err.value)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_atomic_writes_replace_whole_files_and_leave_nothing_beside(where, tmp_path, request):
    root = str(tmp_path / "out") if where == "local" else join(request.getfixturevalue("bucket"), "out")
    target = join(root, "metrics.json")
    write_atomic(target, '{"old": 1}')
    write_atomic(target, b'{"new": 2}')
    assert read_bytes(target) == b'{"new": 2}'
    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # fails while writing: the old file stays whole
    assert read_bytes(target) == b'{"new": 2}'
    assert list_files(root) == ["metrics.json"]  # no temporary file left


@pytest.mark.parametrize("where", ["local", "s3"])
def test_staged_output_swaps_in_only_a_complete_result(where, tmp_path, request):
    base = str(tmp_path) if where == "local" else request.getfixturevalue("bucket")
    target = join(base, "gen")
    write_atomic(join(target, "old.parquet"), "earlier results")
    with pytest.raises(RuntimeError, match="late failure"), staged_output(target) as staged:
        write_atomic(join(staged, "new.parquet"), "half")
        raise RuntimeError("late failure")
    assert names_under(target) == ["old.parquet"] and read_bytes(join(target, "old.parquet")) == b"earlier results"
    with staged_output(target) as staged:
        write_atomic(join(staged, "new.parquet"), "new results")
    expected = ["new.parquet"] + ([COMPLETE_MARKER] if where == "s3" else [])
    assert names_under(target) == sorted(expected)
    leftovers = [n for n in names_under(base) if ".staging-" in n or ".replaced-" in n]
    assert not leftovers, leftovers


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_replaced_directory_comes_back_when_the_job_fails(where, tmp_path, request):
    base = str(tmp_path) if where == "local" else request.getfixturevalue("bucket")
    run = join(base, "run")
    write_atomic(join(run, "checkpoint_epoch_0001", "state.json"), '{"epoch": 1}')
    with pytest.raises(RuntimeError), replacing(run, True):
        assert not names_under(base) or all(".replaced-" in n for n in names_under(base))
        write_atomic(join(run, "checkpoint_epoch_0001", "state.json"), '{"epoch": "new"}')
        raise RuntimeError("the new run failed")
    assert names_under(base) == ["run/checkpoint_epoch_0001/state.json"]
    assert read_bytes(join(run, "checkpoint_epoch_0001", "state.json")) == b'{"epoch": 1}'
    with replacing(run, True):
        write_atomic(join(run, "metrics.csv"), "epoch\n1\n")
    assert names_under(base) == ["run/metrics.csv"]


def test_a_sweeps_best_checkpoint_is_exported_whole_on_s3(local_checkpoint, bucket):
    """The sweep's export: Ray reports the trial's checkpoint without the scheme; the row gets the URI
    back, ``best/`` is staged and swapped in (with the completion marker), ``best.json`` written whole."""
    from lstmgan_ray.tune.results import export_best  # Ray Tune loads only here

    path, cfg = local_checkpoint
    experiment = join(bucket, "sweeps", "sw")
    source = join(experiment, "trial_1", "train", "checkpoint_epoch_0001")
    copy_tree(path, source)
    write_atomic(join(experiment, "best", "generator.keras"), "an earlier best, to be replaced")
    ray_path = filesystem_for(source)[1]  # what Tune's table holds
    assert as_uri(ray_path, experiment) == source
    best = export_best({"trial_id": "1", "_checkpoint": as_uri(ray_path, experiment), "train.loss": "gan",
                        "_metrics": {"epoch": 1}}, experiment)
    assert best["checkpoint"] == join(experiment, "best") and best["source_checkpoint"] == source
    verify_checkpoint(best["checkpoint"])
    assert COMPLETE_MARKER in list_files(best["checkpoint"])
    assert json.loads(read_bytes(join(experiment, "best.json")))["sampled"] == {"train.loss": "gan"}
    assert not [n for n in names_under(join(bucket, "sweeps")) if ".staging-" in n or ".replaced-" in n]


def test_overwrite_refuses_to_start_from_a_checkpoint_of_the_run_it_replaces(local_checkpoint, tmp_path):
    """--overwrite sets the old run aside when training starts: a --resume-from inside it would vanish."""
    from lstmgan_ray.config import Config
    from lstmgan_ray.errors import ConfigError
    from lstmgan_ray.train.preflight import check_run
    from tests.helpers import frames, write_dataset

    path, cfg = local_checkpoint
    inside = join(str(tmp_path / "runs" / "a"), "checkpoint_epoch_0001")
    copy_tree(path, inside)
    data = write_dataset(tmp_path / "d", frames(), files=2)
    run = Config.from_dict({**cfg, "data": {**cfg["data"], "path": data, "features": FEATURES},
                            "run": {**cfg["run"], "storage_path": str(tmp_path / "runs"), "name": "a"}})
    with pytest.raises(ConfigError, match=f"--resume-from {inside} lies inside the run --overwrite replaces"):
        check_run(run, resume_from=inside, overwrite=True)
    assert check_run(run, resume_from=inside, resume=True).replaces is False
