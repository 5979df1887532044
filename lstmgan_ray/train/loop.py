"""``train_loop_per_worker``: what every Ray Train worker runs, the same on 1 or N workers.

It reads like Ray's ``train_func(config)``: set up the strategy and the GAN, restore a
checkpoint if there is one, then per epoch train, validate and report. It never branches
on world size: MultiWorkerMirroredStrategy averages gradients, losses are divided by the
global batch, and every worker takes the same number of steps (computed on the driver
from the split's size).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import ray.train
import tensorflow as tf

from lstmgan_ray.config import Config
from lstmgan_ray.data.shuffle import shuffled_batches
from lstmgan_ray.train.build import build_gan
from lstmgan_ray.train.checkpoint import (
    checkpoint_dir_name,
    preemption_dir_name,
    read_trackers,
    restore_training_state,
    save_checkpoint,
)
from lstmgan_ray.train.fault_points import pause_point
from lstmgan_ray.train.feed import StepReporter, say
from lstmgan_ray.train.quiet import quiet_python_logging
from lstmgan_ray.train.steps import all_sum, distributed_train_step, per_series_means, run_epoch, validation_sums
from lstmgan_ray.train.tracking import start_tracking


@dataclass
class Worker:
    """What one worker holds for the whole run."""

    cfg: Config
    resolved: dict[str, Any]  # the config as shipped, saved into every checkpoint
    scaler: dict[str, Any]
    steps: int
    world: int
    rank: int
    strategy: Any
    gan: Any
    train_shard: Any  # this worker's Ray Data iterators, one per split, for the whole run
    val_shard: Any
    train_windows: int  # the training split's size, as the driver counted it

    @property
    def local_batch(self) -> int:
        return self.cfg.train.batch_size // self.world


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train worker: build the GAN under MWMS, resume if a checkpoint exists, train, report.

    Args:
        config: ``{"cfg": resolved config dict, "scaler": fitted scaler,
            "steps_per_epoch": int, "train_windows": int, "resume_from": checkpoint path or None,
            "pause": a test's pause point (``fault_points``) or None,
            "launched_at": Unix time the command started, or None,
            "tracking": the MLflow run to log to (``tracking.TrackingTarget``), or None,
            "feed": the driver's ``feed.ConsoleFeed`` or None}`` from the driver.
    """
    quiet_python_logging()
    worker = setup(config)
    tracking = start_tracking(config.get("tracking"), worker.resolved)  # rank 0 logs, other ranks no-op
    feed = config.get("feed")
    start_epoch, start_step, resumed = restore(worker, config.get("resume_from"), feed)
    step = FirstStepClock(distributed_train_step(worker.strategy, worker.gan))
    after_step = step_hooks(worker, config.get("pause"), feed)
    errors = tf.function(worker.gan.forecast_errors, reduce_retracing=True)
    draws = worker.cfg.train.val_samples
    scores = tf.function(lambda f, y, s: worker.gan.sample_scores(f, y, draws, s), reduce_retracing=True)
    for epoch in range(start_epoch, worker.cfg.train.epochs):
        skip = start_step if epoch == start_epoch else 0  # steps a mid-epoch checkpoint already did
        metrics, first_bad = train_epoch(worker, step, epoch, skip, after_step, errors, scores)
        launched_at = config.get("launched_at")
        if launched_at and not resumed and epoch == start_epoch and step.first_done_at:
            metrics["startup_s"] = step.first_done_at - launched_at
        if first_bad is not None or not np.isfinite(metrics["val_rmse"]):
            # Every worker sees the same synced values, so all stop here together. Reported
            # without a checkpoint: a diverged state never becomes "best" or "latest".
            metrics["diverged_at_step"] = first_bad or worker.steps
            ray.train.report(metrics)
            tracking.log_epoch(metrics)
            return
        report(worker, metrics, epoch=epoch + 1)
        tracking.log_epoch(metrics)


def setup(config: dict[str, Any]) -> Worker:
    """Seeds, determinism, the strategy and the compiled GAN inside its scope."""
    cfg = Config.from_dict(config["cfg"])
    ctx = ray.train.get_context()
    keras.utils.set_random_seed(cfg.train.seed)
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        gan = build_gan(cfg, config["scaler"])
    return Worker(cfg, config["cfg"], config["scaler"], int(config["steps_per_epoch"]),
                  ctx.get_world_size(), ctx.get_world_rank(), strategy, gan,
                  ray.train.get_dataset_shard("train"), ray.train.get_dataset_shard("val"),
                  int(config["train_windows"]))


def restore(worker: Worker, resume_from: str | None, feed=None) -> tuple[int, int, bool]:
    """(completed epochs, steps into the next one, whether a checkpoint was restored).

    This run's latest checkpoint (after a failure, preemption or resize) wins over
    ``--resume-from``, which only seeds a run's first attempt.
    """
    checkpoint = ray.train.get_checkpoint() or (ray.train.Checkpoint(resume_from) if resume_from else None)
    if checkpoint is None:
        return 0, 0, False
    with worker.strategy.scope(), checkpoint.as_directory() as ckpt_dir:
        start_epoch, start_step = restore_training_state(ckpt_dir, worker.gan)
    if worker.rank == 0:
        where = f"step {start_step} of epoch {start_epoch + 1}" if start_step else f"epoch {start_epoch}"
        say(feed, f"resuming after {where} from {checkpoint.path} on {worker.world} worker(s)")
    return start_epoch, start_step, True


class FirstStepClock:
    """The compiled step, noting when the first one finished (``startup_s``: command to first step)."""

    def __init__(self, step_fn):
        self.step_fn = step_fn
        self.first_done_at: float | None = None

    def __call__(self, batch) -> None:
        self.step_fn(batch)
        if self.first_done_at is None:
            self.first_done_at = time.time()


def step_hooks(worker: Worker, pause_spec: dict | None, feed=None):
    """What runs after every step: a test's pause point, the preemption check, rank 0's step count."""
    pause = pause_point(pause_spec, worker.rank)
    steps_done = StepReporter(feed if worker.rank == 0 else None, worker.steps)

    def report_preemption(epoch: int, step: int, info) -> None:
        metrics = {"epoch": epoch + 1, "preempted_at_step": step, "val_rmse": float("nan"), "val_crps": float("nan"),
                   "workers": worker.world, "preempted_nodes": len(info.preempted_node_ids)}
        # Every worker reads the trackers (a collective); rank 0's checkpoint carries them so
        # the restarted epoch's loss means include the steps done before the notice.
        report(worker, metrics, epoch=epoch, step=step, trackers=read_trackers(worker.gan),
               dir_name=preemption_dir_name(epoch + 1, step))

    guard = PreemptionGuard(worker.cfg.run.preemption_check_steps, report_preemption)

    def after_step(epoch: int, done: int) -> None:
        if pause is not None:
            pause(epoch + 1, done)
        guard(epoch, done)
        steps_done(epoch + 1, done)

    return after_step


def train_epoch(worker: Worker, step, epoch: int, skip: int, after_step, errors, scores) -> tuple[dict, int | None]:
    """One epoch's steps and validation; the epoch's metrics and the first non-finite step (or None)."""
    t = worker.cfg.train
    started = time.perf_counter()
    logs, data_wait = run_epoch(worker.strategy, step, worker.gan, epoch_batches(worker, epoch), worker.steps,
                                start_step=skip, after_step=lambda done: after_step(epoch, done))
    train_time = time.perf_counter() - started
    sums = all_sum(worker.strategy, validation_sums(errors, scores, worker.val_shard, worker.local_batch,
                                                    sorted(worker.scaler["series"]), t.seed))
    (se, se_p, count), (crps, coverage) = sums[:3], per_series_means(sums[3:])
    metrics = {
        "epoch": epoch + 1,
        "d_loss": logs["d_loss"], "g_loss": logs["g_loss"],
        "g_adv_loss": logs["g_adv_loss"], "g_sup_loss": logs["g_sup_loss"],
        "val_rmse": math.sqrt(se / count) if count else float("nan"),
        "val_rmse_persistence": math.sqrt(se_p / count) if count else float("nan"),
        "val_crps": crps, "val_coverage90": coverage,
        "val_windows": int(count),
        "windows_per_s": (worker.steps - skip) * t.batch_size / train_time,
        "data_wait_s": data_wait,
        "epoch_time_s": time.perf_counter() - started,
        "workers": worker.world,
    }
    return metrics, logs["first_nonfinite_step"]


def epoch_batches(worker: Worker, epoch: int):
    """This worker's training batches of ``epoch``, the same sequence whenever the epoch is (re)run.

    ``train.global_shuffle``: its share of every global batch of the epoch's permutation
    (``data.shuffle``). Otherwise its Ray Data shard through the local shuffle buffer,
    seeded per epoch.
    """
    t = worker.cfg.train
    if t.global_shuffle:
        return shuffled_batches(worker.train_shard, windows=worker.train_windows, global_batch=t.batch_size,
                                world=worker.world, rank=worker.rank, seed=t.seed, epoch=epoch)
    return worker.train_shard.iter_batches(
        batch_size=worker.local_batch, batch_format="numpy", drop_last=True, prefetch_batches=2,
        local_shuffle_buffer_size=t.shuffle_buffer or None,
        local_shuffle_seed=(t.seed * 1000 + epoch) if t.shuffle_buffer else None)


def report(worker: Worker, metrics: dict[str, Any], *, epoch: int, step: int = 0,
           trackers: list | None = None, dir_name: str | None = None) -> None:
    """Report ``metrics`` from every worker, with rank 0's checkpoint of the state after it."""
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = None
        if worker.rank == 0:
            save_checkpoint(tmp, worker.gan, worker.scaler, worker.resolved, epoch, metrics, step=step,
                            trackers=trackers)
            ckpt = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=ckpt, checkpoint_dir_name=dir_name or checkpoint_dir_name(epoch))


class PreemptionGuard:
    """Asks Ray every ``every`` steps whether a node of this run is being preempted; on the
    first notice, checkpoints the middle of the epoch so the restarted run loses at most
    the steps since.

    ``ray.train.get_preemption_info`` is a barrier: every worker calls it at the same
    steps, which holds because every worker takes the same number of steps.
    """

    def __init__(self, every: int, save):
        self.every = every
        self.save = save
        self.noticed = False

    def __call__(self, epoch: int, step: int) -> None:
        if not self.every or self.noticed or step % self.every:
            return
        info = ray.train.get_preemption_info()
        if info is not None:
            self.noticed = True
            self.save(epoch, step, info)
