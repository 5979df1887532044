"""Training: ``train_loop_per_worker`` (what each Ray Train worker runs, identical on 1 or N
workers) and its named pieces, the driver ``run_training`` and the ``make_trainer`` every sweep
trial shares, checkpoints, the device and precision policy, per-epoch progress files, the check
that a cluster can hold the workers, and the pause points failure tests use.

Exports are loaded on first use: most of these modules import TensorFlow or Ray, which a
command line validating its flags should not pay for.
"""

from lstmgan_ray._lazy import lazy_exports

_EXPORTS = {
    "driver": ["METRIC_KEYS", "TrainingDiverged", "TrainingOutcome", "init_ray", "make_trainer",
               "outcome_from_result", "prepare_windows", "raise_if_diverged", "run_training", "steps_per_epoch"],
    "loop": ["train_loop_per_worker"],
    "build": ["build_gan"],
    "checkpoint": ["LoadedCheckpoint", "load_checkpoint", "save_checkpoint", "verify_checkpoint"],
    "progress": ["ProgressCallback", "read_history"],
    "resources": ["ResourceError", "ensure_resources"],
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
