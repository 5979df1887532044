"""What a sweep logs, and where: MLflow through Ray Tune's ``MLflowLoggerCallback``, and not Tune's
own per-trial loggers.

With ``run.tracking: mlflow`` the sweep driver opens one parent MLflow run for the sweep (the base
config as its parameters) and hands Ray's ``MLflowLoggerCallback`` the ``mlflow.parentRunId`` tag,
so the run the callback starts for each trial (the sampled values as parameters, every epoch's
metrics) is that run's child. Trials' own training runs track nothing (``trial.py``), so no trial
is logged twice. At the end the parent gets the best trial, its checkpoint and metric. A continued
sweep logs into the parent it started with; a trial that continues gets a new child run.

Tune's default JSON, CSV and TensorBoard loggers would write every trial's metrics a second time,
beside the files each trial's training run writes (``metrics.csv``, ``metrics.jsonl``,
``tensorboard/``); they are turned off for the Tuner's run, and the trial table reads the
training runs' files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from lstmgan_ray.config import Config
from lstmgan_ray.train.tracking import (
    TrackingTarget,
    create_run,
    ended_on_error,
    flat_params,
    resolve_tracking_uri,
    warn,
)

PARENT_RUN_TAG = "mlflow.parentRunId"  # how MLflow nests a run under another (MLflow's own tag)
SWEEP_DIR_TAG = "lstmgan.sweep_dir"
NO_TUNE_LOGGERS = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"  # read by Tune when Tuner.fit() builds its callbacks


@contextmanager
def without_tune_loggers() -> Iterator[None]:
    """Tune's default JSON/CSV/TensorBoard logger callbacks off while the Tuner runs."""
    before = os.environ.get(NO_TUNE_LOGGERS)
    os.environ[NO_TUNE_LOGGERS] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(NO_TUNE_LOGGERS, None)
        else:
            os.environ[NO_TUNE_LOGGERS] = before


class SweepTracking:
    """The sweep's parent MLflow run (None without tracking) and the outcome it ends with."""

    def __init__(self, target: TrackingTarget | None, experiment: str):
        self.target, self.experiment = target, experiment
        self.outcome = None  # the SweepOutcome, once there is one

    def callbacks(self) -> list:
        """Ray Tune's ``MLflowLoggerCallback`` for the trials, children of the sweep's run."""
        if self.target is None:
            return []
        from ray.air.integrations.mlflow import MLflowLoggerCallback  # imports mlflow: only when tracking

        return [MLflowLoggerCallback(self.target.uri, experiment_name=self.experiment,
                                     tags={PARENT_RUN_TAG: self.target.run_id})]

    def close(self, status: str) -> None:
        """The best trial, its checkpoint and metric on the parent run, then its end; failures only warn."""
        if self.target is None:
            return
        from mlflow.tracking import MlflowClient

        best = getattr(self.outcome, "best", None) or {}
        try:
            client = MlflowClient(tracking_uri=self.target.uri)
            if best:
                client.set_tag(self.target.run_id, "best_trial", best["trial_id"])
                client.set_tag(self.target.run_id, "best_checkpoint", best["checkpoint"])
                for key, value in best["metrics"].items():
                    if key != "epoch" and isinstance(value, int | float):
                        client.log_metric(self.target.run_id, f"best_{key}", float(value))
            client.set_terminated(self.target.run_id, status)
        except Exception as err:
            warn(f"could not finish the sweep's MLflow run {self.target.run_id}", err)


@contextmanager
def tracked_sweep(base: Config, name: str, sweep_dir: str, *, resumed: bool) -> Iterator[SweepTracking]:
    """The sweep's parent run (new, or the one a continued sweep started), ended when the sweep ends:
    FINISHED with a best checkpoint, KILLED when interrupted, FAILED otherwise."""
    run = base.run
    target = None
    if run.tracking == "mlflow":
        target = (find_parent(run.tracking_uri, run.experiment, sweep_dir) if resumed
                  else open_parent(base, name, sweep_dir))
    tracking = SweepTracking(target, run.experiment)
    with ended_on_error(tracking):
        yield tracking
    outcome = tracking.outcome
    tracking.close("KILLED" if getattr(outcome, "interrupted", False) else
                   "FINISHED" if getattr(outcome, "best", None) else "FAILED")


def open_parent(base: Config, name: str, sweep_dir: str) -> TrackingTarget:
    """A new parent run named after the sweep, the base config as its parameters."""
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    run = base.run
    target = create_run(run.tracking_uri, run.experiment, name, {SWEEP_DIR_TAG: sweep_dir})
    params = [Param(key, str(value)) for key, value in flat_params(base.to_dict()).items()]
    client = MlflowClient(tracking_uri=target.uri)
    for start in range(0, len(params), 100):  # MLflow takes at most 100 parameters a batch
        client.log_batch(target.run_id, params=params[start:start + 100])
    return target


def find_parent(uri: str | None, experiment: str, sweep_dir: str) -> TrackingTarget | None:
    """The parent run a continued sweep started with, reopened; None, with a warning, if there is none
    (the sweep started without tracking, and continues as it started)."""
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(uri)
    try:
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        runs = client.search_runs([found.experiment_id], f"tags.`{SWEEP_DIR_TAG}` = '{sweep_dir}'",
                                  order_by=["attributes.start_time DESC"], max_results=1) if found else []
        if runs:
            client.update_run(runs[0].info.run_id, status="RUNNING")
            return TrackingTarget(uri, found.experiment_id, runs[0].info.run_id)
        problem: BaseException = LookupError(f"no run tagged {SWEEP_DIR_TAG}={sweep_dir} in experiment {experiment}")
    except Exception as err:
        problem = err
    warn(f"the continued sweep logs to no MLflow run of its own at {uri}", problem)
    return None
