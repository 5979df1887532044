"""Jobs end to end on object storage: a real S3-compatible server (moto) on loopback holds the data, the
checkpoint to resume from, the run and the generated paths, and every path the jobs report is a URI
the next command takes."""

import json
import os

import pyarrow.parquet as pq
import pytest

from lstmgan_ray.cli.inference import generate_main
from lstmgan_ray.config import Config
from lstmgan_ray.storage import COMPLETE_MARKER, copy_tree, filesystem_for, join, list_files
from lstmgan_ray.train.checkpoint import verify_checkpoint
from lstmgan_ray.train.driver import run_training
from tests.helpers import last_json, trained_config


def test_a_run_on_s3_resumes_from_a_uri_and_its_best_checkpoint_generates(trained, bucket, capsys):
    """The session's run, its epoch-2 checkpoint and its data uploaded to the bucket: a run there resumed
    from that checkpoint's URI trains epoch 3 exactly as the unbroken local run did, reports URIs, and
    generate takes its best checkpoint's URI and writes its Parquet back to the bucket."""
    data, storage = join(bucket, "bars"), join(bucket, "runs")
    copy_tree(trained.data, data)
    start = join(bucket, "elsewhere", "checkpoint_epoch_0002")
    copy_tree(os.path.join(trained.run_dir, "checkpoint_epoch_0002"), start)

    outcome = run_training(Config.from_dict(trained_config(data, storage, name="on-s3")), resume_from=start,
                           verbose=False)
    summary = json.loads(json.dumps(outcome.summary(), default=float))  # the train job's last line
    assert summary["run_dir"] == f"{bucket}/runs/on-s3"
    assert summary["best_checkpoint"] == f"{bucket}/runs/on-s3/checkpoint_epoch_0003"
    verify_checkpoint(summary["best_checkpoint"])
    assert [h["epoch"] for h in outcome.history] == [3]  # metrics.jsonl, written to and read from the bucket
    for key in ("d_loss", "g_loss", "val_rmse"):
        assert outcome.history[0][key] == pytest.approx(trained.history[2][key], rel=1e-5), key

    out = join(bucket, "paths")
    code = generate_main(["--checkpoint", summary["best_checkpoint"], "--data", data, "--out", out,
                          "--paths", "2", "--horizon", "2"])
    generated = last_json(capsys.readouterr().out)
    assert code == 0
    assert generated["out"] == out and generated["checkpoint"] == summary["best_checkpoint"]
    fs, inner = filesystem_for(out)
    assert len(pq.read_table(inner, filesystem=fs)) == generated["rows"] > 0
    assert COMPLETE_MARKER in list_files(out)
