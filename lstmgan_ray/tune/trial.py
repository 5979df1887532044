"""One sweep trial: the sampled config as a full Ray Train run, inside the Tune trial's actor.

A trial builds the same ``TensorflowTrainer`` as ``jobs/train.py`` (so a trial's
result can be reproduced by a training run with the same settings) and forwards
its epoch reports to Tune. Its run lives at ``<sweep>/trial_<id>/train``, a path
that depends on nothing but the trial id, so a restored sweep finds the run again
and Ray Train continues it from its latest checkpoint.
"""

from __future__ import annotations

from typing import Any

import ray.tune

from lstmgan_ray.storage import join
from lstmgan_ray.train import make_trainer, outcome_from_result, raise_if_diverged, steps_per_epoch
from lstmgan_ray.train.progress import ProgressCallback
from lstmgan_ray.tune.callbacks import EpochReportCallback, PlacementGroupRecorder
from lstmgan_ray.tune.sweep_file import SweepSpec

TRAIN_RUN = "train"


def trial_dirname(trial) -> str:
    """Tune trial directory: the trial id alone, so paths are short and stable across restores."""
    return trial_dirname_for(trial.trial_id)


def trial_dirname_for(trial_id: str) -> str:
    return f"trial_{trial_id}"



def trial_driver(config: dict[str, Any], *, spec: dict[str, Any], windows: dict[int, Any],
                 experiment_dir: str, registry: str | None = None) -> None:
    """Tune's trainable: train ``config`` (the sampled values) over the sweep's base config.

    Args:
        config: the sampled values, by dotted key (Tune's ``param_space`` draw).
        spec: the ``SweepSpec`` as a dict (Tune ships plain data to trials).
        windows: the windows prepared on the sweep driver, by window length.
        experiment_dir: the sweep's directory (``<storage>/<name>``).
        registry: the placement-group registry's name, if the sweep runs one.
    """
    sweep = SweepSpec.model_validate(spec)
    cfg = sweep.trial_config({key: config[key] for key in sweep.search_space})
    trial_id = ray.tune.get_context().get_trial_id()
    storage = join(experiment_dir, trial_dirname_for(trial_id))
    prepared = windows[cfg.data.input_dim]
    resolved = cfg.to_dict()
    # The sweep's MLflowLoggerCallback logs every trial once; its training run tracks nothing itself.
    resolved["run"].update(name=TRAIN_RUN, storage_path=storage, tracking="none")
    # A trial keeps (and reports as best) the checkpoints the sweep will judge it by.
    resolved["train"]["checkpoint_metric"] = sweep.tune.metric
    callbacks = [EpochReportCallback(), ProgressCallback(join(storage, TRAIN_RUN), verbose=False)]
    if registry is not None:
        callbacks.append(PlacementGroupRecorder(registry, trial_id))
    trainer = make_trainer(resolved, prepared, storage_path=storage, name=TRAIN_RUN, callbacks=callbacks)
    outcome = outcome_from_result(trainer.fit(), sweep.tune.metric, run_dir=join(storage, TRAIN_RUN))
    raise_if_diverged(outcome, steps_per_epoch(cfg, prepared.counts))
