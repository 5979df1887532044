"""Training: ``train_loop_per_worker`` (what each Ray Train worker runs, identical on 1 or N
workers) and its named pieces, the driver ``run_training`` and the ``make_trainer`` every sweep
trial shares, checkpoints, the device and precision policy, per-epoch progress files, the check
that a cluster can hold the workers, and the pause points failure tests use.

Exports are loaded on first use: most of these modules import TensorFlow or Ray, which a
command line validating its flags should not pay for.
"""

import importlib

_EXPORTS = {
    "driver": ["METRIC_KEYS", "TrainingDiverged", "TrainingOutcome", "init_ray", "make_trainer",
               "outcome_from_result", "prepare_windows", "raise_if_diverged", "run_training", "steps_per_epoch"],
    "loop": ["train_loop_per_worker"],
    "build": ["build_gan"],
    "checkpoint": ["LoadedCheckpoint", "load_checkpoint", "save_checkpoint", "verify_checkpoint"],
    "progress": ["ProgressCallback", "read_history"],
    "resources": ["ResourceError", "ensure_resources"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
