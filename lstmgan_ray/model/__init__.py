"""The model: the reference design's two network factories, the paired per-example losses, and
``LSTMGAN``, the one ``keras.Model`` that holds both networks and their training step. Nothing
here knows about Ray, files or configs beyond the ``model`` section's fields.

Exports are loaded on first use (they import TensorFlow).
"""

from lstmgan_ray._lazy import lazy_exports

_EXPORTS = {
    "networks": ["build_models", "make_discriminator_model", "make_generator_model", "scaled_widths"],
    "losses": ["LOSSES", "gradient_penalty", "supervised_loss"],
    "gan": ["LSTMGAN", "NO_BAD_STEP", "SyncedLossScaleOptimizer", "next_values_to_prices"],
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
