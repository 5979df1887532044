"""The training driver: prepare windows with Ray Data for a checked run (``preflight``), run the
``TensorflowTrainer`` and turn its result into the job's outcome.

``make_trainer`` is shared with every sweep trial, so a trial trains exactly as ``jobs/train.py`` does.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import dataclass
from typing import Any

import ray
import ray.train
from ray.data import ExecutionOptions
from ray.train.tensorflow import TensorflowTrainer

from lstmgan_ray.config import Config
from lstmgan_ray.console import is_verbose
from lstmgan_ray.data.pipeline import prepare_datasets
from lstmgan_ray.data.validate import DatasetInfo
from lstmgan_ray.errors import DataError
from lstmgan_ray.storage import base_name, join, replacing
from lstmgan_ray.train.fault_points import pause_spec_from_env
from lstmgan_ray.train.feed import FeedPrinter
from lstmgan_ray.train.loop import train_loop_per_worker
from lstmgan_ray.train.preflight import CheckedRun, leased_run
from lstmgan_ray.train.progress import ProgressCallback, read_history
from lstmgan_ray.train.quiet import (
    filter_forwarded_logs,
    quiet_python_logging,
    runtime_env_vars,
    train_log_level,
)
from lstmgan_ray.train.resources import ensure_resources
from lstmgan_ray.train.tracking import tracked_run

# What every epoch reports (a contract: metrics.csv columns, sweep tables, users' scripts).
METRIC_KEYS = ("epoch", "d_loss", "g_loss", "g_adv_loss", "g_sup_loss", "val_rmse",
               "val_rmse_persistence", "val_crps", "val_coverage90", "val_windows", "windows_per_s", "data_wait_s",
               "epoch_time_s", "workers")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or inf; the run stopped without checkpointing the diverged state."""


@dataclass
class TrainingOutcome:
    """What a finished run leaves: the best checkpoint, the run directory and the best metrics."""

    best_checkpoint: str | None
    run_dir: str
    metrics: dict[str, Any] | None
    history: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        return {"best_checkpoint": self.best_checkpoint, "run_dir": self.run_dir,
                "metrics": self.metrics, "epochs_reported": len(self.history)}


def process_start_time() -> float:
    """When this process (the job's command) started, as Unix time (psutil ships with Ray)."""
    import psutil  # Ray puts its vendored psutil on the path when it is imported (above)

    return psutil.Process().create_time()


def init_ray(verbose: bool | None = None) -> bool:
    """Join RAY_ADDRESS's cluster if set, else start a local instance; True if we started it.

    Without RAY_ADDRESS, Ray's own default would join whatever cluster `ray start` last
    recorded in /tmp/ray/ray_current_cluster, and hang if that cluster is gone. A job run
    by hand means "here, now"; `ray job submit` always sets RAY_ADDRESS, and
    ``RAY_ADDRESS=auto`` joins a cluster started on this machine.

    Every Ray process the job starts gets the job's console environment (``console.process_env``);
    unless ``verbose`` (default: the job's ``--verbose``, ``console.is_verbose``) the start-up
    chatter Ray forwards from them is dropped (``quiet``).
    """
    if ray.is_initialized():
        return False
    verbose = is_verbose() if verbose is None else verbose
    address = os.environ.get("RAY_ADDRESS") or None
    env_vars = runtime_env_vars(verbose)
    ray.init(address=address or "local", log_to_driver=True, configure_logging=True,
             logging_level=logging.INFO if verbose else logging.WARNING,
             runtime_env={"env_vars": env_vars} if env_vars else None)
    if not verbose:
        filter_forwarded_logs()
        quiet_python_logging()
    return address is None


def prepare_windows(cfg: Config, info: DatasetInfo):
    """Ray Data windows (train/val/test) for ``cfg.data``, from an inspected dataset."""
    return prepare_datasets(cfg.data.model_dump(), info.features, info.transforms, info.read_columns,
                            deterministic=cfg.train.deterministic)


def steps_per_epoch(cfg: Config, counts: dict[str, int]) -> int:
    """Global steps per epoch; refuses splits too small for one global batch or one window per worker."""
    batch = cfg.train.batch_size
    steps = counts["train"] // batch
    if steps == 0:
        raise DataError(f"{cfg.data.path}: {counts['train']} training windows, fewer than "
                        f"one global batch ({batch}); lower train.batch_size or add data")
    if counts["val"] < cfg.run.max_workers:
        raise DataError(f"{cfg.data.path}: {counts['val']} validation windows, fewer than "
                        f"the {cfg.run.max_workers} workers; adjust data.splits")
    return steps


def make_trainer(resolved: dict[str, Any], prepared, *, storage_path: str, name: str, callbacks: list,
                 resume_from: str | None = None, launched_at: float | None = None,
                 tracking: dict[str, str] | None = None, feed=None):
    """The TensorflowTrainer for one run: the same for ``jobs/train.py`` and every sweep trial.

    Args:
        resolved: the run's config as a dict (``Config.to_dict()``), shipped to every worker.
        prepared: the ``Prepared`` windows; train and val are split over the workers.
        storage_path, name: where Ray Train keeps the run (and finds it again to resume).
        callbacks: Ray Train ``UserCallback``s (progress files, Tune reporting).
        resume_from: a checkpoint directory to start from.
        launched_at: when the command started (Unix time); the first epoch then reports
            ``startup_s``, the seconds from it to the first finished training step.
        tracking: the MLflow run rank 0 logs to (``tracking.TrackingTarget.to_dict()``), or None.
        feed: a ``feed.ConsoleFeed`` for rank 0's step counts and lines, or None.
    """
    cfg = Config.from_dict(resolved)
    run = cfg.run
    per_worker = {"CPU": run.cpus_per_worker, **({"GPU": run.gpus_per_worker} if run.use_gpu else {})}
    return TensorflowTrainer(
        train_loop_per_worker,
        train_loop_config={"cfg": resolved, "scaler": prepared.scaler,
                           "steps_per_epoch": steps_per_epoch(cfg, prepared.counts),
                           "train_windows": prepared.counts["train"],
                           "resume_from": resume_from, "pause": pause_spec_from_env(),
                           "launched_at": launched_at, "tracking": tracking, "feed": feed},
        scaling_config=ray.train.ScalingConfig(
            num_workers=run.num_workers, use_gpu=run.use_gpu, resources_per_worker=per_worker,
            elastic_resize_monitor_interval_s=run.elastic_resize_interval_s),
        run_config=ray.train.RunConfig(
            name=name, storage_path=storage_path, logging_config=ray.train.LoggingConfig(log_level=train_log_level()),
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=run.keep_checkpoints, checkpoint_score_attribute=cfg.train.checkpoint_metric,
                checkpoint_score_order="min"),
            failure_config=ray.train.FailureConfig(max_failures=run.max_failures,
                                                   max_preemption_failures=run.max_preemption_failures),
            callbacks=callbacks),
        datasets={"train": prepared.train, "val": prepared.val},
        dataset_config=data_config(cfg),
    )


def data_config(cfg: Config) -> ray.train.DataConfig:
    """How Ray Train hands the splits to the workers.

    With ``train.global_shuffle`` every worker gets the whole training split, unsplit and
    always in its stored order, and keeps its share of each epoch's permutation
    (``data.shuffle``): Ray's ``streaming_split`` would give each worker a fixed part of
    it (on the bundled data, one series each). Validation is split: its sums do not
    depend on who scores which window.
    """
    ordered = ExecutionOptions(preserve_order=cfg.train.deterministic)
    if not cfg.train.global_shuffle:
        return ray.train.DataConfig(datasets_to_split=["train", "val"], execution_options=ordered)
    return ray.train.DataConfig(datasets_to_split=["val"],
                                execution_options={"train": ExecutionOptions(preserve_order=True), "val": ordered})


def run_training(cfg: Config, *, resume_from: str | None = None, resume: bool = False,
                 overwrite: bool = False, verbose: bool = True) -> TrainingOutcome:
    """Take the run's lease and check the inputs (``preflight.leased_run``), then train; see
    ``train_checked``. The lease is released when training ends, however it ends."""
    with leased_run(cfg, resume_from=resume_from, resume=resume, overwrite=overwrite) as checked:
        return train_checked(checked, verbose=verbose)


def train_checked(checked: CheckedRun, *, verbose: bool = True) -> TrainingOutcome:
    """Prepare data with Ray Data, train with a TensorflowTrainer, return the outcome.

    A run it replaces (``checked.replaces``) is set aside only once the resources are there and
    the windows are prepared, deleted when the new run ends with a best checkpoint, and put back
    when it fails (an error, a diverged loss, an interrupt, no checkpoint). With ``run.tracking:
    mlflow`` the command is one MLflow run (``tracking``).

    Args:
        checked: a run whose data, checkpoint and run directory passed ``check_run``.
        verbose: print one progress line per epoch.
    """
    cfg = checked.cfg
    # Opened before Ray starts: an unreachable MLflow store fails the command before anything runs.
    with tracked_run(cfg, checked.run_dir) as tracking:
        if verbose and tracking.target:
            print(tracking.target.describe(cfg.run.experiment), flush=True)
        ensure_resources(cfg.run, local=init_ray(), verbose=verbose)
        prepared, steps = prepare_run_windows(cfg, checked, verbose)
        hold = checked.lease.moving if checked.lease else contextlib.nullcontext
        with replacing(checked.run_dir, checked.replaces, hold) as replacement:
            with FeedPrinter(per_step=cfg.train.batch_size) as printer:  # the workers' lines, printed here
                feed = printer.feed if verbose else None
                trainer = make_trainer(cfg.to_dict(), prepared, storage_path=cfg.run.storage_path,
                                       name=cfg.run.name,
                                       callbacks=[ProgressCallback(checked.run_dir, verbose=verbose, feed=feed)],
                                       resume_from=checked.resume_from, launched_at=process_start_time(),
                                       tracking=tracking.worker_target(), feed=feed)
                result = trainer.fit()
            outcome = outcome_from_result(result, cfg.train.checkpoint_metric, run_dir=checked.run_dir)
            tracking.outcome = outcome
            raise_if_diverged(outcome, steps)
            replacement.failed = outcome.best_checkpoint is None
    return outcome


def prepare_run_windows(cfg: Config, checked: CheckedRun, verbose: bool):
    """The run's windows and its global steps per epoch; the start banner says what was found."""
    info, run = checked.info, cfg.run
    if verbose:
        print(f"data: {cfg.data.path} ({len(info.files)} file(s), {info.num_rows} rows, "
              f"{len(info.features)} feature(s))", flush=True)
    prepared = prepare_windows(cfg, info)
    steps = steps_per_epoch(cfg, prepared.counts)
    if verbose:
        devices = f"{run.gpus_per_worker:g} GPU" if run.use_gpu else f"{run.cpus_per_worker:g} CPU"
        print(f"series: {len(prepared.scaler.get('series', {}))}; windows: train={prepared.counts['train']} "
              f"val={prepared.counts['val']} test={prepared.counts['test']}; {steps} steps/epoch of "
              f"{cfg.train.batch_size}", flush=True)
        print(f"workers: {run.num_workers} x {devices}; run directory: {checked.run_dir}", flush=True)
    return prepared, steps


def raise_if_diverged(outcome: TrainingOutcome, steps: int) -> None:
    """Turn a run that stopped on a non-finite loss into an error naming the epoch and step."""
    diverged = [h for h in outcome.history if h.get("diverged_at_step")]
    if diverged:
        h = diverged[-1]
        raise TrainingDiverged(
            f"non-finite loss in epoch {h['epoch']} at step {h['diverged_at_step']} of {steps} "
            f"(d_loss={h['d_loss']}, g_loss={h['g_loss']}); training stopped. Lower "
            f"train.g_learning_rate/train.d_learning_rate or try train.loss=wgan-gp. "
            f"Best checkpoint before it: {outcome.best_checkpoint}")


def outcome_from_result(result, metric: str = "val_crps", run_dir: str | None = None) -> TrainingOutcome:
    """Pick the best checkpoint of a Ray Train result: the lowest ``metric`` (``train.checkpoint_metric``).

    ``run_dir`` is the run's directory as the job names it (``<storage_path>/<name>``): Ray reports
    paths inside the storage filesystem, without a URI's scheme, and the outcome's paths must be
    ones the next command can open. Without it, Ray's (local) paths are used as they are.
    """
    run_dir = run_dir or result.path
    best = None
    for ckpt, metrics in result.best_checkpoints or []:
        if "preempted_at_step" in metrics:  # mid-epoch, never validated: a restart point, not a result
            continue
        if best is None or metrics.get(metric, math.inf) < best[1].get(metric, math.inf):
            best = (ckpt, metrics)
    history = read_history(run_dir)
    if best is None:
        return TrainingOutcome(None, run_dir, None, history)
    metrics = {k: best[1][k] for k in best[1] if k in METRIC_KEYS}
    return TrainingOutcome(join(run_dir, base_name(best[0].path)), run_dir, metrics, history)
