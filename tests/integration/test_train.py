"""Real Ray Train runs: 1 vs 2 workers take the same steps; a resumed run whose worker is killed
mid-epoch equals an unbroken one; a failed --overwrite leaves the old run as it was, resumable; a
second job on a run in use is refused before it starts Ray."""

import copy
import json
import os
import shutil
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lstmgan_ray.config import Config
from lstmgan_ray.storage import LEASE_FILE, held_lease
from lstmgan_ray.train.checkpoint import GENERATOR_FILE, load_checkpoint
from lstmgan_ray.train.driver import TrainingDiverged, run_training
from lstmgan_ray.train.fault_points import PAUSE_AT_ENV, PAUSE_DIR_ENV, hold_name, marker_name
from tests.helpers import SETS, run_job, tiny_config, trained_config, tree_digest, write_dataset


def _run(cfg_dict, **kwargs):
    return run_training(Config.from_dict(cfg_dict), verbose=False, **kwargs)


def _weights(ckpt_dir):
    loaded = load_checkpoint(ckpt_dir)
    return [w.numpy() for w in loaded.generator.weights + loaded.discriminator.weights]


@pytest.fixture(scope="module")
def two_series_dir(tmp_path_factory, bars_frames):
    # AAA and BBB give 32 training windows each (53 bars, 70% split, window 4 + 1).
    return write_dataset(tmp_path_factory.mktemp("two"), bars_frames[:2], files=4)


def test_one_and_two_workers_follow_the_same_trajectory(ray_local, two_series_dir, tmp_path):
    """Same global batch and seed: 1 and 2 workers report the same losses (rtol 1e-4).

    Each epoch is two global batches of 32 cut from that epoch's permutation of the 64
    training windows (``train.global_shuffle``, on by default), the same batches on 1 and
    2 workers, so both runs average over exactly the same examples in the same order
    (sharding the stored order instead would give each worker one series). The noise is on:
    each step draws it for the global batch and each worker keeps its examples' rows, so
    an example gets the same noise on 1 and 2 workers (per-worker noise streams would not).
    Recurrent dropout is off (Keras draws its masks per replica), so the only difference
    left is how MWMS splits and all-reduces the batch. A loss averaged per worker instead
    of over the global batch would double the 2-worker step. The default objective runs:
    four different draws per window through the energy score and the discriminator, each
    window's draws averaged before the global batch is.
    """
    histories = {}
    for workers in (1, 2):
        cfg = tiny_config(two_series_dir, str(tmp_path), run={"num_workers": workers, "name": f"w{workers}"},
                          model={"recurrent_dropout": 0.0},
                          train={"batch_size": 32, "epochs": 3, "g_learning_rate": 3e-3, "d_learning_rate": 3e-3})
        outcome = _run(cfg)
        assert [h["epoch"] for h in outcome.history] == [1, 2, 3]
        histories[workers] = outcome.history
    assert Config.from_dict(cfg).train.supervised_loss == "energy" and Config().train.samples_per_window == 4
    assert Config.from_dict(cfg).train.global_shuffle and Config.from_dict(cfg).model.noise_dim > 0
    for key in ("d_loss", "g_loss", "g_sup_loss", "val_rmse"):
        one = [h[key] for h in histories[1]]
        two = [h[key] for h in histories[2]]
        np.testing.assert_allclose(two, one, rtol=1e-4, err_msg=key)
    # Validation draws are seeded per validation batch, and each worker batches its own shard of the
    # validation windows: the sampled scores agree only to their Monte-Carlo error.
    for key, tolerance in (("val_crps", {"rtol": 1e-2}), ("val_coverage90", {"atol": 0.05})):
        np.testing.assert_allclose([h[key] for h in histories[2]], [h[key] for h in histories[1]], **tolerance,
                                   err_msg=key)
    # ...and training moved: later epochs differ from the first.
    assert histories[1][0]["g_sup_loss"] != pytest.approx(histories[1][-1]["g_sup_loss"], rel=1e-3)


def wait_for_file(directory, name: str, run, timeout: float = 300.0):
    """Poll for a file the run writes; fail at once if the run ended without writing it."""
    path = os.path.join(directory, name)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert not run.done(), f"the run ended before writing {name}: {run.exception()!r}"
        assert time.monotonic() < deadline, f"no {name} after {timeout:.0f} s"
        time.sleep(0.1)
    with open(path) as fh:
        return json.load(fh)


def test_resumed_run_survives_a_killed_worker_and_ends_with_the_same_weights(trained, tmp_path, monkeypatch):
    """3 epochs straight (the session's shared run) == resuming its epoch-1 checkpoint to 3, with
    noise and recurrent dropout on, and the worker killed in the middle of epoch 3: Ray Train
    restarts it from this run's epoch-2 checkpoint (FailureConfig.max_failures) and the run ends
    exactly where the unbroken one did, every epoch reported once."""
    pause = tmp_path / "pause"
    pause.mkdir()
    (pause / hold_name(3, 2)).touch()
    monkeypatch.setenv(PAUSE_DIR_ENV, str(pause))
    monkeypatch.setenv(PAUSE_AT_ENV, "3:2")  # of 25 steps
    cfg = trained_config(trained.data, str(tmp_path), name="resumed")
    cfg["run"]["max_failures"] = 1
    first = os.path.join(trained.run_dir, "checkpoint_epoch_0001")
    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(_run, cfg, resume_from=first)
        victim = wait_for_file(pause, marker_name(0, 3, 2), run)
        assert os.path.isdir(tmp_path / "resumed" / "checkpoint_epoch_0002")
        os.kill(victim["pid"], signal.SIGKILL)
        os.remove(pause / marker_name(0, 3, 2))
        os.remove(pause / hold_name(3, 2))
        resumed = run.result(timeout=600)
    # The restarted worker is a new process that went through the same step again.
    assert json.loads((pause / marker_name(0, 3, 2)).read_text())["pid"] != victim["pid"]
    assert [h["epoch"] for h in resumed.history] == [2, 3]
    for a, b in zip(trained.history[1:], resumed.history):
        for key in ("d_loss", "g_loss", "val_rmse"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), key
    end_a = os.path.join(trained.run_dir, "checkpoint_epoch_0003")
    end_b = os.path.join(resumed.run_dir, "checkpoint_epoch_0003")
    for wa, wb in zip(_weights(end_a), _weights(end_b)):
        np.testing.assert_allclose(wb, wa, rtol=1e-5, atol=1e-6)
    # A run that only got half-way really is different: the comparison can fail.
    mid = _weights(first)
    assert any(not np.allclose(a, b) for a, b in zip(mid, _weights(end_a)))
    assert os.path.isfile(os.path.join(end_b, GENERATOR_FILE))


def test_an_overwrite_that_fails_puts_the_old_run_back_and_it_still_resumes(trained, tmp_path):
    """--overwrite sets the old run aside only when training starts; a new run whose loss diverges
    (a real failure, after every check passed) is removed and the old run comes back byte for byte,
    and continues (--resume) from its latest checkpoint: Ray Train's state moved away and back."""
    runs = tmp_path / "runs"
    shutil.copytree(trained.run_dir, runs / "kept")
    before = tree_digest(runs / "kept")
    cfg = trained_config(trained.data, str(runs), name="kept")
    diverging = copy.deepcopy(cfg)
    diverging["train"]["g_learning_rate"] = 1e38
    with pytest.raises(TrainingDiverged):
        _run(diverging, overwrite=True)
    assert tree_digest(runs / "kept") == before
    assert os.listdir(runs) == ["kept"]  # nothing set aside is left behind

    cfg["train"]["epochs"] = 4
    resumed = _run(cfg, resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert resumed.history[:3] == trained.history
    assert os.path.isdir(runs / "kept" / "checkpoint_epoch_0004")


def test_a_resume_of_a_run_in_use_is_refused_naming_its_owner_before_ray_starts(storage, bars_dir):
    """The run's lease is held by a live job (this test process): a `lstmgan-train --resume` of it
    exits 2 naming that job, in seconds, without starting Ray, and the run is left as it was."""
    run = storage / "earlier"
    before = tree_digest(run)
    with held_lease(str(run)):
        proc = run_job("train.py", "--data", bars_dir, *SETS, "--storage-path", str(storage), "--name", "earlier",
                       "--resume", timeout=120)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert f"{run} is in use by another job" in proc.stderr
        assert f"(pid {os.getpid()} on {socket.gethostname()}, since " in proc.stderr
        assert "Traceback" not in proc.stderr and "Started a local Ray instance" not in proc.stdout + proc.stderr
        assert proc.elapsed < 30, f"took {proc.elapsed:.1f}s to refuse"
        assert {k: v for k, v in tree_digest(run).items() if k != LEASE_FILE} == before
    assert tree_digest(run) == before  # and the lease went with its holder
