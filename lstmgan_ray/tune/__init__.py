"""Sweeps: the sweep file's contract (a base config built in the same layers as training, a
search space of dotted keys, Tune settings, all checked before Ray starts), the Ray Tune run
whose every trial is a full Ray Train run of the GAN, the callbacks that tie trials to the sweep
driver, and the trial table and best checkpoint a sweep leaves behind. Training itself belongs
to ``lstmgan_ray.train``; this package only decides what to train, how often, and what won.

Exports are loaded on first use: reading a sweep file must not import Ray or TensorFlow,
so that a command line reports a mistyped key before either loads.
"""

import importlib

_EXPORTS = {
    "sweep_file": ["SchedulerSettings", "SweepSpec", "TuneSettings", "default_sweep_file", "load_sweep",
                   "trial_count"],
    "space": ["candidate_values", "check_space"],
    "run": ["run_sweep"],
    "results": ["SweepOutcome", "finish_sweep"],
    "trial": ["trial_driver"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
