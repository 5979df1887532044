"""Sweeps: the sweep file's contract (a base config built in the same layers as training, a
search space of dotted keys, Tune settings, all checked before Ray starts), the Ray Tune run
whose every trial is a full Ray Train run of the GAN, the callbacks that tie trials to the sweep
driver, and the trial table and best checkpoint a sweep leaves behind. Training itself belongs
to ``lstmgan_ray.train``; this package only decides what to train, how often, and what won.

Exports are loaded on first use: reading a sweep file must not import Ray or TensorFlow,
so that a command line reports a mistyped key before either loads.
"""

from lstmgan_ray._lazy import lazy_exports

_EXPORTS = {
    "sweep_file": ["SchedulerSettings", "SweepSpec", "TuneSettings", "default_sweep_file", "load_sweep",
                   "trial_count"],
    "space": ["candidate_values", "check_space"],
    "run": ["run_sweep"],
    "results": ["SweepOutcome", "finish_sweep"],
    "trial": ["trial_driver"],
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
