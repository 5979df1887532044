"""Experiment tracking with MLflow (``run.tracking: mlflow``), the Ray Train way.

The driver opens one MLflow run per training command (``tracked_run``) and closes it with the
best checkpoint's path as the ``best_checkpoint`` tag. Inside ``train_loop_per_worker``, Ray's
``setup_mlflow`` attaches to that run: rank 0 gets the ``mlflow`` module and logs the config as
parameters (``section.key``), then each epoch's metrics with step = epoch; every other rank gets
Ray's no-op module, so the loop makes the same calls on 1 or N workers. A worker group restarted
after a failure attaches to the same run.

When tracking fails: before training (the store unreachable) it is a ``ConfigError`` and nothing
starts; during training, one warning and no more logging, while training goes on (``metrics.csv``
holds every epoch); at the end, a warning, and the run's result stands.

MLflow is an optional extra whose import takes seconds: it is imported inside the functions that
need it, only when tracking is on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from lstmgan_ray.config import Config
from lstmgan_ray.errors import ConfigError

RUN_DIR_TAG = "lstmgan.run_dir"
BEST_CHECKPOINT_TAG = "best_checkpoint"


def flat_params(resolved: dict[str, Any]) -> dict[str, Any]:
    """The config as MLflow parameters, named as ``--set`` and sweep files name them (``train.epochs``)."""
    return {f"{section}.{key}": value for section, body in resolved.items() for key, value in body.items()}


def numeric_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """An epoch report's numbers as MLflow metrics, under metrics.csv's names (``epoch`` is the step)."""
    return {k: float(v) for k, v in metrics.items() if k != "epoch" and isinstance(v, int | float)}


def resolve_tracking_uri(uri: str | None) -> str:
    """The store every process logs to: ``uri``, else MLflow's (``MLFLOW_TRACKING_URI`` or its default),
    with a relative local path made absolute, so that workers started elsewhere find the same store."""
    import mlflow  # the optional extra, imported only when tracking is on

    uri = uri or mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + os.path.abspath(uri.removeprefix("sqlite:///"))
    if uri.startswith("file:") and not uri.startswith("file:/"):
        return "file://" + os.path.abspath(uri.removeprefix("file:"))
    return uri if "://" in uri else os.path.abspath(uri)


@dataclass
class TrackingTarget:
    """An MLflow run opened on the driver: what a worker needs to log into it."""

    uri: str
    experiment_id: str
    run_id: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def describe(self, experiment: str) -> str:
        return f"tracking with MLflow: run {self.run_id} of experiment {experiment!r} at {self.uri}"


def create_run(uri: str | None, experiment: str, run_name: str, tags: dict[str, str]) -> TrackingTarget:
    """A new MLflow run in ``experiment`` (created if missing); a ``ConfigError`` if the store fails."""
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(uri)
    try:
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    except Exception as err:  # whatever the store says: one message, before anything has started
        raise ConfigError(f"MLflow tracking at {uri} failed ({type(err).__name__}: {first_line(err)}); start "
                          f"the tracking server or fix run.tracking_uri, or run without --tracking") from None
    return TrackingTarget(uri, experiment_id, run.info.run_id)


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [""])[0][:300]


class DriverTracking:
    """The driver's side of a tracked run: its target (None without tracking) and the outcome to report."""

    def __init__(self, target: TrackingTarget | None):
        self.target = target
        self.outcome = None  # the TrainingOutcome, once there is one

    def worker_target(self) -> dict[str, str] | None:
        return self.target.to_dict() if self.target else None

    def close(self, status: str) -> None:
        """Tag the best checkpoint and end the run; a failure here only warns."""
        if self.target is None:
            return
        from mlflow.tracking import MlflowClient

        best = getattr(self.outcome, "best_checkpoint", None)
        try:
            client = MlflowClient(tracking_uri=self.target.uri)
            if best:
                client.set_tag(self.target.run_id, BEST_CHECKPOINT_TAG, best)
            client.set_terminated(self.target.run_id, status)
        except Exception as err:
            warn(f"could not finish the MLflow run {self.target.run_id}", err)


@contextmanager
def ended_on_error(tracking) -> Iterator[None]:
    """Around a tracked job: its MLflow run ends KILLED on an interrupt and FAILED on any other error
    (which goes on up), so no run is left RUNNING by a job that stopped."""
    try:
        yield
    except KeyboardInterrupt:
        tracking.close("KILLED")
        raise
    except BaseException:
        tracking.close("FAILED")
        raise


@contextmanager
def tracked_run(cfg: Config, run_dir: str) -> Iterator[DriverTracking]:
    """Open the MLflow run of a training command (when ``run.tracking`` asks for one), close it at the end:
    FINISHED with a best checkpoint, FAILED without one or on an error, KILLED on an interrupt."""
    run = cfg.run
    tracking = DriverTracking(create_run(run.tracking_uri, run.experiment, run.name, {RUN_DIR_TAG: run_dir})
                              if run.tracking == "mlflow" else None)
    with ended_on_error(tracking):
        yield tracking
    tracking.close("FINISHED" if getattr(tracking.outcome, "best_checkpoint", None) else "FAILED")


class EpochLog:
    """A worker's MLflow logging: ``mlflow`` on rank 0 of a tracked run, Ray's no-op module on other
    ranks, None without tracking. After the first failure it warns once and logs nothing more."""

    def __init__(self, mlflow=None):
        self._mlflow = mlflow

    def log_epoch(self, metrics: dict[str, Any]) -> None:
        if self._mlflow is None:
            return
        try:
            self._mlflow.log_metrics(numeric_metrics(metrics), step=int(metrics["epoch"]))
        except Exception as err:
            warn("MLflow logging stopped", err)
            self._mlflow = None


def start_tracking(target: dict[str, str] | None, resolved: dict[str, Any]) -> EpochLog:
    """Ray's ``setup_mlflow`` on the run the driver opened, with the config as its parameters.

    ``MLFLOW_RUN_ID`` makes the run ``setup_mlflow`` starts the driver's, not a new one.
    """
    if not target:
        return EpochLog()
    from ray.air.integrations.mlflow import setup_mlflow  # imports mlflow: only when tracking is on

    os.environ["MLFLOW_RUN_ID"] = target["run_id"]
    try:
        return EpochLog(setup_mlflow(flat_params(resolved), tracking_uri=target["uri"],
                                     experiment_id=target["experiment_id"]))
    except Exception as err:
        warn("MLflow logging is off for this run", err)
        return EpochLog()


def warn(what: str, err: BaseException) -> None:
    """A tracking problem never stops training: say so on stderr (a worker's reaches the driver's)."""
    print(f"warning: {what} ({type(err).__name__}: {first_line(err)}); training goes on, and the run's "
          f"metrics.csv holds every epoch", file=sys.stderr, flush=True)
