"""Callbacks that tie a sweep's trials to the sweep driver: console progress, placement-group
release, and forwarding only epoch reports (not preemption restart points) to Tune.

Why release placement groups ourselves: when Tune stops a trial early it kills
the trial's actor, and with it the Ray Train controller, but the workers'
placement group belongs to the job and outlives them. Ray's PlacementGroupCleaner
finds the dead controller through the state API, which needs the dashboard and a
single Ray instance per machine; without them the reserved CPUs/GPUs stay held and
later trials wait forever for resources. So each trial's controller records its
placement group with a small registry actor, and the sweep driver removes it as
soon as Tune reports the trial finished, stopped or failed. Both sides look the
registry up by name, so the callbacks survive the pickling Tune does for restores.
"""

from __future__ import annotations

import logging

import ray
from ray.tune import Callback
from ray.tune.integration.ray_train import TuneReportCallback
from ray.util import placement_group_table, remove_placement_group

from lstmgan_ray.errors import DependencyError

try:  # a private Ray Train V2 module: the only hook that sees a worker group's placement group
    from ray.train.v2._internal.execution.callback import WorkerGroupCallback
except ImportError as err:  # a Ray that moved it: say so before the sweep starts (exit code 2)
    raise DependencyError(
        f"lstmgan-tune needs ray.train.v2._internal.execution.callback.WorkerGroupCallback, which "
        f"Ray {ray.__version__} does not provide (written against Ray 2.60 with Train V2): "
        f'pip install "ray[default,train,tune,data]==2.60.*"') from err

log = logging.getLogger(__name__)
NAMESPACE = "lstmgan-ray"


@ray.remote(num_cpus=0)
class PlacementGroupRegistry:
    """Placement groups of running trials, by trial id."""

    def __init__(self):
        self._groups: dict[str, list] = {}

    def add(self, trial_id: str, group) -> None:
        self._groups.setdefault(trial_id, []).append(group)

    def pop(self, trial_id: str) -> list:
        return self._groups.pop(trial_id, [])


def start_registry(name: str):
    """The sweep driver's registry (one per sweep and Ray session)."""
    return PlacementGroupRegistry.options(name=name, namespace=NAMESPACE, get_if_exists=True).remote()


class PlacementGroupRecorder(WorkerGroupCallback):
    """Ray Train controller callback: record each worker group's placement group."""

    def __init__(self, registry: str, trial_id: str):
        self._registry, self._trial_id = registry, trial_id

    def after_worker_group_start(self, worker_group) -> None:
        try:
            group = worker_group.get_worker_group_state().placement_group_handle.placement_group
            ray.get(ray.get_actor(self._registry, namespace=NAMESPACE).add.remote(self._trial_id, group))
        except Exception as err:  # bookkeeping only: never fail a training run over it
            log.warning("could not record the placement group of trial %s: %s", self._trial_id, err)


def release_placement_groups(registry: str, trial_id: str) -> None:
    """Remove a finished trial's placement groups that still exist."""
    try:
        actor = ray.get_actor(registry, namespace=NAMESPACE)
    except ValueError:
        return
    for group in ray.get(actor.pop.remote(trial_id)):
        if placement_group_table(group).get("state") not in (None, "REMOVED"):
            remove_placement_group(group)


class SweepProgress(Callback):
    """One console line per trial event; frees a finished trial's placement group."""

    def __init__(self, registry: str, verbose: bool = True):
        self._registry, self._verbose = registry, verbose

    def on_trial_start(self, iteration, trials, trial, **info):
        config = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(trial.config.items()))
        print(f"trial {trial.trial_id} started: {config}", flush=True)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if self._verbose:
            print(f"trial {trial.trial_id} epoch {result.get('epoch')}: "
                  f"val_crps {result.get('val_crps', float('nan')):.5f} "
                  f"val_rmse {result.get('val_rmse', float('nan')):.4f} "
                  f"(persistence {result.get('val_rmse_persistence', float('nan')):.4f})", flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        release_placement_groups(self._registry, trial.trial_id)
        epoch = (trial.last_result or {}).get("epoch")
        print(f"trial {trial.trial_id} finished after epoch {epoch}", flush=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        release_placement_groups(self._registry, trial.trial_id)
        print(f"trial {trial.trial_id} failed", flush=True)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class EpochReportCallback(TuneReportCallback):
    """Ray's ``TuneReportCallback`` for epoch reports only.

    A preemption checkpoint's report (mid-epoch, no validation) is a restart point,
    and must not reach the scheduler as a result. Create it inside a trial: its
    constructor needs the Tune session.
    """

    def after_report(self, run_context, metrics, checkpoint):
        rank_zero = metrics[0]  # the worker whose metrics Ray forwards to Tune
        if "preempted_at_step" not in rank_zero:
            super().after_report(run_context, metrics, checkpoint)
