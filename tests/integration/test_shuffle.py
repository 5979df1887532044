"""The global shuffle on the bundled data (two series, 1999-2018) read through real Ray Data: every
batch mixes both series and many years, the order is a function of (seed, epoch) alone, and the
batches do not depend on the worker count or on where a resumed epoch starts."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from lstmgan_ray.config import Config
from lstmgan_ray.data import prepare_datasets, shuffled_batches
from lstmgan_ray.data.validate import inspect_dataset
from tests.helpers import BUNDLED_DATA

BATCH = 128
KEYS = ("series_id", "timestamp")


@pytest.fixture(scope="module")
def bundled(ray_local):
    cfg = Config.from_dict({"data": {"path": BUNDLED_DATA}})
    info = inspect_dataset(cfg.data.model_dump())
    prep = prepare_datasets(cfg.data.model_dump(), info.features, info.transforms, info.read_columns)
    return prep.train, prep.counts["train"], prep


def batches(bundled, *, epoch, seed=0, world=1, rank=0, columns=KEYS):
    train, n, _ = bundled
    return list(shuffled_batches(train.iterator(), windows=n, global_batch=BATCH, world=world, rank=rank,
                                 seed=seed, epoch=epoch, columns=columns))


def test_every_batch_mixes_both_series_and_many_years(bundled):
    train, n, _ = bundled
    stored = train.to_pandas()
    # What training got before: the windows by series then time, so a shard or a 1,024-window
    # buffer holds one series in one era.
    assert stored["series_id"].iloc[:1024].nunique() == 1
    for epoch in (0, 1):
        for world, rank in ((1, 0), (2, 1)):
            got = batches(bundled, epoch=epoch, world=world, rank=rank)
            assert len(got) == n // BATCH
            for batch in got:
                assert len(batch["series_id"]) == BATCH // world
                assert set(batch["series_id"]) == {"NASDAQ", "SP500"}
                years = pd.DatetimeIndex(batch["timestamp"]).year
                assert years.max() - years.min() >= 8, (epoch, world, sorted(set(years)))


def test_order_is_a_function_of_seed_and_epoch(bundled):
    first = batches(bundled, epoch=2, columns=("x", "y"))
    again = batches(bundled, epoch=2, columns=("x", "y"))  # a second read of the split, as a rerun makes
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["y"], b["y"])
    for other in (batches(bundled, epoch=3, columns=("x", "y")), batches(bundled, epoch=2, seed=1, columns=("x", "y"))):
        assert len(other) == len(first)
        assert not any(np.array_equal(o["y"], f["y"]) for o, f in zip(other, first))


def test_two_workers_and_a_resumed_epoch_see_the_unbroken_batches(bundled):
    """The global batches of 1 worker are the 2 workers' local batches side by side; a worker
    that restarts the epoch (a new read of the split) and skips k steps, as ``run_epoch`` does
    for a mid-epoch checkpoint, trains on exactly the batches the unbroken run trained on next."""
    one = batches(bundled, epoch=4)
    two = [batches(bundled, epoch=4, world=2, rank=r) for r in range(2)]
    for step, batch in enumerate(one):
        for key in KEYS:
            np.testing.assert_array_equal(np.concatenate([two[0][step][key], two[1][step][key]]), batch[key])
    k = 17
    resumed = shuffled_batches(bundled[0].iterator(), windows=bundled[1], global_batch=BATCH, world=2, rank=1,
                               seed=0, epoch=4, columns=KEYS)
    for _ in range(k):
        next(resumed)
    rest = list(resumed)
    assert len(rest) == len(one) - k
    for got, want in zip(rest, two[1][k:], strict=True):
        np.testing.assert_array_equal(got["timestamp"], want["timestamp"])
        np.testing.assert_array_equal(got["series_id"], want["series_id"])


def test_ray_train_hands_every_worker_the_whole_training_split(bundled):
    """What ``make_trainer``'s DataConfig gives 2 workers: with the global shuffle, each the whole
    training split in its stored order (each keeps its own share); without it, Ray's
    ``streaming_split`` shards, one series each on these data. Validation is split either way."""
    from lstmgan_ray.train.driver import data_config

    _, n, prep = bundled

    def rows(iterators, name):
        def read(it):
            return pd.concat([pd.DataFrame({k: batch[k] for k in KEYS})
                              for batch in it[name].iter_batches(batch_size=None, batch_format="numpy")])

        with ThreadPoolExecutor(len(iterators)) as pool:  # a split's epoch starts when all its readers ask
            return list(pool.map(read, iterators))

    datasets = {"train": prep.train, "val": prep.val}
    for on in (True, False):
        cfg = Config.from_dict({"train": {"global_shuffle": on}, "run": {"num_workers": 2}})
        workers = data_config(cfg).configure(datasets, world_size=2, worker_handles=None, worker_node_ids=None)
        train, val = rows(workers, "train"), rows(workers, "val")
        assert sum(len(v) for v in val) == prep.counts["val"] - prep.counts["val"] % 2
        if on:
            stored = prep.train.to_pandas()
            for got in train:
                for key in KEYS:
                    np.testing.assert_array_equal(got[key].to_numpy(), stored[key].to_numpy(), err_msg=key)
        else:
            assert [len(t) for t in train] == [n // 2] * 2
            assert [t["series_id"].nunique() for t in train] == [1, 1]
