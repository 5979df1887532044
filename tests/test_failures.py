"""Failures a run survives, on real Ray: a training worker process killed, a spot preemption
notice, a node joining an elastic run and a node lost.

Nothing may be lost: every epoch is reported exactly once, the last checkpoint loads, and
where the restart resumes exactly (same worker count), the weights equal an unbroken run's:
the session's shared ``trained`` run, which these runs repeat with the same config.
Mid-run events wait on what the run shows (the per-step markers of the STEP_MARKER_ENV test
hook, checkpoint directories), never on fixed sleeps.
"""

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

from lstmgan_ray.checkpoint import load_checkpoint
from lstmgan_ray.config import Config, ConfigError, load_config
from lstmgan_ray.train import STEP_MARKER_ENV, run_training

from conftest import trained_config


def _weights(ckpt_dir):
    loaded = load_checkpoint(ckpt_dir)
    return [w.numpy() for w in loaded.generator.weights + loaded.discriminator.weights]


def assert_same_weights(ckpt_a, ckpt_b):
    for wa, wb in zip(_weights(ckpt_a), _weights(ckpt_b), strict=True):
        np.testing.assert_allclose(wb, wa, rtol=1e-5, atol=1e-6)


def wait_for(condition, what, timeout=600.0, proc=None):
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the job exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def marker(markers, rank=0):
    """The last step marker a worker of this rank wrote (see train.STEP_MARKER_ENV)."""
    try:
        with open(os.path.join(markers, f"rank{rank}.json")) as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def in_epoch(markers, epoch, min_step=1, world=None, rank=0):
    m = marker(markers, rank)
    if m and m["epoch"] == epoch and m["step"] >= min_step and world in (None, m["world"]):
        return m
    return None


# -- config: elastic workers keep the global batch --------------------------------

def test_num_workers_is_an_int_or_a_range():
    assert load_config(None, ["run.num_workers=2"]).run.num_workers == 2
    elastic = load_config(None, ["run.num_workers=[1, 4]", "train.batch_size=96"]).run
    assert elastic.elastic and (elastic.min_workers, elastic.max_workers) == (1, 4)
    assert load_config(None, **{"run.num_workers": "1-2"}).run.num_workers == (1, 2)
    assert Config.from_dict(load_config(None, ["run.num_workers=[1,2]"]).to_dict()).run.num_workers == (1, 2)
    # Every count in the range must split the global batch: 3 workers cannot split 64.
    with pytest.raises(ConfigError, match=r"not divisible by 3 worker\(s\), which run.num_workers=\[2, 4\]"):
        load_config(None, ["run.num_workers=[2,4]", "train.batch_size=64"])
    with pytest.raises(ConfigError, match="min <= max"):
        load_config(None, ["run.num_workers=[2,1]"])


# -- 1. a worker process killed mid-epoch -----------------------------------------

def test_killed_worker_process_resumes_from_latest_checkpoint(trained, tmp_path, monkeypatch):
    """SIGKILL the worker in epoch 2: Ray Train restarts it (run.max_failures) from the epoch-1
    checkpoint, epoch 2 is trained again from its start, and the run ends as the unbroken one."""
    markers = tmp_path / "markers"
    monkeypatch.setenv(STEP_MARKER_ENV, str(markers))
    cfg = trained_config(trained.data, str(tmp_path / "runs"), name="killed")
    cfg["run"]["max_failures"] = 1
    killed, errors = {}, []

    def kill_in_epoch_2():
        try:
            m = wait_for(lambda: in_epoch(markers, 2, min_step=3), "epoch 2 in progress")
            os.kill(m["pid"], signal.SIGKILL)
            killed.update(m)
        except Exception as err:  # surfaced in the test thread below
            errors.append(err)

    killer = threading.Thread(target=kill_in_epoch_2, daemon=True)
    killer.start()
    outcome = run_training(Config.from_dict(cfg), verbose=False)
    killer.join(timeout=10)
    assert not errors, errors
    assert 3 <= killed["step"] < killed["steps"], killed  # killed mid-epoch
    after = marker(markers)
    assert after["pid"] != killed["pid"] and after["resumed_from"] == [1, 0]
    assert [h["epoch"] for h in outcome.history] == [1, 2, 3]
    assert [h["workers"] for h in outcome.history] == [1, 1, 1]
    for a, b in zip(trained.history, outcome.history, strict=True):
        for key in ("d_loss", "g_loss", "val_rmse"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), (b["epoch"], key)
    last = os.path.join(outcome.run_dir, "checkpoint_epoch_0003")
    assert_same_weights(os.path.join(trained.run_dir, "checkpoint_epoch_0003"), last)
