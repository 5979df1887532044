"""Real Ray Train runs: 1 vs 2 workers take the same steps; a resumed run equals an unbroken one."""

import os

import numpy as np
import pytest

from lstmgan_ray.checkpoint import GENERATOR_FILE, load_checkpoint
from lstmgan_ray.config import Config
from lstmgan_ray.train import run_training

from conftest import tiny_config, trained_config, write_dataset


def _run(cfg_dict, **kwargs):
    return run_training(Config.from_dict(cfg_dict), verbose=False, **kwargs)


def _weights(ckpt_dir):
    loaded = load_checkpoint(ckpt_dir)
    return [w.numpy() for w in loaded.generator.weights + loaded.discriminator.weights]


@pytest.fixture(scope="module")
def two_series_dir(tmp_path_factory, bars_frames):
    # AAA and BBB give 32 training windows each (53 bars, 70% split, window 4 + 1):
    # one global batch of 64 is then the whole training split, whatever the sharding.
    return write_dataset(tmp_path_factory.mktemp("two"), bars_frames[:2], files=4)


def test_one_and_two_workers_follow_the_same_trajectory(ray_local, two_series_dir, tmp_path):
    """Same global batch and seed: 1 and 2 workers report the same losses (rtol 1e-4).

    Each epoch is one global batch holding the whole training split, so both runs
    average over exactly the same examples; noise and dropout are off so the only
    difference left is how MWMS splits and all-reduces the batch. A loss averaged
    per worker instead of over the global batch would double the 2-worker step.
    """
    histories = {}
    for workers in (1, 2):
        cfg = tiny_config(two_series_dir, str(tmp_path), run={"num_workers": workers, "name": f"w{workers}"},
                          model={"noise_dim": 0, "recurrent_dropout": 0.0},
                          train={"batch_size": 64, "epochs": 3, "shuffle_buffer": 0,
                                 "g_learning_rate": 3e-3, "d_learning_rate": 3e-3})
        outcome = _run(cfg)
        assert [h["epoch"] for h in outcome.history] == [1, 2, 3]
        histories[workers] = outcome.history
    for key in ("d_loss", "g_loss", "g_sup_loss", "val_rmse"):
        one = [h[key] for h in histories[1]]
        two = [h[key] for h in histories[2]]
        np.testing.assert_allclose(two, one, rtol=1e-4, err_msg=key)
    # ...and training moved: later epochs differ from the first.
    assert histories[1][0]["g_sup_loss"] != pytest.approx(histories[1][-1]["g_sup_loss"], rel=1e-3)


def test_resumed_run_ends_with_the_same_weights(trained, tmp_path):
    """3 epochs straight (the session's shared run) == resuming its epoch-1 checkpoint to 3,
    with noise and recurrent dropout on."""
    first = os.path.join(trained.run_dir, "checkpoint_epoch_0001")
    resumed = _run(trained_config(trained.data, str(tmp_path), name="resumed"), resume_from=first)
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
