"""The global shuffle's pure pieces: each epoch's permutation, the workers' shares, the one-pass gather."""

import numpy as np
import pytest

from lstmgan_ray.data import DataError, epoch_order, gather_rows, worker_share


def test_epoch_order_is_a_seeded_permutation_new_every_epoch():
    order = epoch_order(1000, 64, seed=7, epoch=3)
    assert order.shape == (15, 64)  # 1000 // 64 whole batches; the 40 left over sit this epoch out
    assert len(np.unique(order)) == order.size and order.min() >= 0 and order.max() < 1000
    np.testing.assert_array_equal(order, epoch_order(1000, 64, seed=7, epoch=3))
    assert not np.array_equal(order, epoch_order(1000, 64, seed=8, epoch=3))
    assert not np.array_equal(order, epoch_order(1000, 64, seed=7, epoch=4))
    # Not a rotation of one fixed order: which windows share a batch changes from epoch to epoch.
    batch_of = [np.empty(1000, int) for _ in range(2)]
    for e in range(2):
        for b, row in enumerate(epoch_order(1000, 64, seed=7, epoch=e)):
            batch_of[e][row] = b
    together = [(batch_of[e][:100, None] == batch_of[e][None, :100]) for e in range(2)]
    assert (together[0] != together[1]).sum() > 100


@pytest.mark.parametrize("world", [1, 2, 4])
def test_worker_shares_make_up_each_global_batch(world):
    order = epoch_order(500, 32, seed=0, epoch=0)
    shares = [worker_share(order, world, rank) for rank in range(world)]
    assert all(s.shape == (15, 32 // world) for s in shares)
    np.testing.assert_array_equal(np.concatenate(shares, axis=1), order)


@pytest.mark.parametrize(("before", "after"), [(1, 2), (2, 1), (4, 2), (2, 3)])
def test_a_mid_epoch_resize_trains_every_remaining_window_exactly_once(before, after):
    """A checkpoint k global steps into an epoch on ``before`` workers, resumed on ``after``: the
    order is the epoch's (seed, epoch) permutation whatever the worker count, and every worker skips
    the same k global steps, so the windows trained before and after the resize are each trained
    exactly once and every window of the epoch is. (A per-worker count of windows, or shards cut
    per worker count, would repeat some and skip others.)"""
    windows, batch, k = 1000, 48, 7
    order = epoch_order(windows, batch, seed=3, epoch=2)
    done = np.concatenate([worker_share(order, before, r)[:k].ravel() for r in range(before)])
    rest = np.concatenate([worker_share(order, after, r)[k:].ravel() for r in range(after)])
    counts = np.bincount(np.concatenate([done, rest]), minlength=windows)
    assert counts.max() == 1 and counts.sum() == order.size
    np.testing.assert_array_equal(np.flatnonzero(counts), np.sort(order.ravel()))


def test_gather_rows_keeps_the_wanted_rows_in_their_order_in_one_pass():
    n = 23
    rows = np.arange(n)
    stream = [{"x": rows[a:b, None] * [1.0, -1.0], "y": rows[a:b].astype(np.float32)}
              for a, b in ((0, 5), (5, 5), (5, 17), (17, 23))]  # uneven blocks, one empty
    wanted = np.array([22, 0, 9, 4, 16, 5])
    got = gather_rows(stream, wanted, n)  # every column, as training takes them
    np.testing.assert_array_equal(got["y"], wanted.astype(np.float32))
    np.testing.assert_array_equal(got["x"], wanted[:, None] * [1.0, -1.0])
    assert got["y"].dtype == np.float32 and set(got) == {"x", "y"}
    assert set(gather_rows(stream, wanted, n, ("y",))) == {"y"}
    with pytest.raises(DataError, match="holds 23 windows, the driver counted 24"):
        gather_rows(stream, wanted, n + 1, ("x",))
    with pytest.raises(DataError, match="more than the 20 windows"):
        gather_rows(stream, wanted[wanted < 20], 20, ("x",))
