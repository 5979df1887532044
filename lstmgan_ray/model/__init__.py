"""The model: the reference design's two network factories, the paired per-example losses, and
``LSTMGAN``, the one ``keras.Model`` that holds both networks and their training step. Nothing
here knows about Ray, files or configs beyond the ``model`` section's fields.

Exports are loaded on first use (they import TensorFlow).
"""

import importlib

_EXPORTS = {
    "networks": ["build_models", "make_discriminator_model", "make_generator_model", "scaled_widths"],
    "losses": ["LOSSES", "gradient_penalty", "supervised_loss"],
    "gan": ["LSTMGAN", "NO_BAD_STEP", "SyncedLossScaleOptimizer", "next_values_to_prices"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
