"""The supervised-only baseline: the checkpoint's generator trained without its adversary.

A GAN's forecasts are only worth their cost if they beat the same network trained on
the supervised loss alone, so the baseline repeats the GAN's training setup (layers,
optimizer settings, global batch, supervised loss, by default as many epochs) minus the
adversarial term, and rolls out exactly as the GAN does. Its weights are saved so a
later evaluation of the same checkpoint can score it again without retraining.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from lstmgan_ray.data.windows import VolFilter
from lstmgan_ray.errors import CheckpointError
from lstmgan_ray.evaluate.generate import rollout, to_original_units
from lstmgan_ray.model.losses import supervised_loss
from lstmgan_ray.model.networks import build_models

BASELINE_FILE = "baseline_supervised.weights.h5"


def _with_noise(x: np.ndarray, noise_dim: int) -> np.ndarray:
    """The generator's input at zero noise: its point forecast, as the GAN's is scored."""
    return np.concatenate([x, np.zeros((*x.shape[:2], noise_dim), x.dtype)], axis=-1)


class _EpochPrinter(keras.callbacks.Callback):
    """One line per epoch: the baseline can train as long as the GAN did, so show it moving."""

    def __init__(self, epochs: int, verbose: bool):
        super().__init__()
        self.epochs, self.verbose = epochs, verbose

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose:
            print(f"  supervised baseline epoch {epoch + 1}/{self.epochs}  loss {logs['loss']:.4f}", flush=True)


def train_supervised_baseline(config: dict[str, Any], feature_size: int, x: np.ndarray, y: np.ndarray, *,
                              epochs: int, seed: int = 0, verbose: bool = True):
    """The checkpoint's generator architecture trained on the supervised loss alone.

    ``config`` is the checkpoint's, so only the adversarial term differs from the GAN's training.
    """
    t, noise_dim = config["train"], config["model"]["noise_dim"]
    # A point forecaster fitted at zero noise: one draw per window, so the energy score (which
    # needs two) becomes its one-draw limit, the L1 error.
    kind = "l1" if t.get("supervised_loss", "l1") == "energy" else t["supervised_loss"]
    keras.utils.set_random_seed(seed)
    generator = generator_architecture(config, feature_size)
    generator.compile(optimizer=keras.optimizers.Adam(t["g_learning_rate"], beta_1=t["beta_1"], beta_2=t["beta_2"]),
                      loss=lambda real, fake: supervised_loss(real, fake[:, None, :], kind))
    generator.fit(_with_noise(x, noise_dim), y, batch_size=t["batch_size"], epochs=epochs, shuffle=True,
                  verbose=0, callbacks=[_EpochPrinter(epochs, verbose)])
    return generator


def generator_architecture(config: dict[str, Any], feature_size: int):
    """A fresh, untrained generator of the checkpoint's architecture."""
    d = config["data"]
    # A point forecaster fitted at zero noise: the noise channels ride on the window, wherever the
    # GAN's generator takes them.
    return build_models({**config["model"], "noise_placement": "input"}, d["input_dim"], d["output_dim"],
                        feature_size)[0]


def save_supervised_baseline(model, config: dict[str, Any], feature_size: int, path: str) -> str:
    """Weights only, without the optimizer's state (which would triple the file)."""
    clean = generator_architecture(config, feature_size)
    clean.set_weights(model.get_weights())
    clean.save_weights(path)
    return path


def load_supervised_baseline(path: str, config: dict[str, Any], feature_size: int):
    """The baseline an earlier evaluation saved (``BASELINE_FILE``), rebuilt for this checkpoint.

    Only weights are stored: the architecture is the checkpoint's, so a file from a
    different network fails here, naming the file.
    """
    model = generator_architecture(config, feature_size)
    try:
        model.load_weights(path)
    except Exception as err:  # noqa: BLE001 -- h5py and Keras raise many types for a wrong or damaged file
        raise CheckpointError(f"{path}: not the weights of this checkpoint's generator "
                              f"({type(err).__name__}: {str(err).splitlines()[0]})") from None
    return model


def baseline_forecasts(model, windows: dict[str, np.ndarray], *, noise_dim: int, horizon: int, target_index: int,
                       transform: str, vol_filter: VolFilter | None = None,
                       vol_index: int | None = None) -> np.ndarray:
    """``[N, H]`` forecasts in original units, rolled out exactly as the GAN's are (volatility
    scaling included: ``vol_filter`` is the checkpoint's, ``windows["vol"]`` each window's scale)."""

    def step(w, _index):
        return model.predict(_with_noise(w, noise_dim), batch_size=4096, verbose=0)

    values = rollout(step, windows["x"], windows["hold"], horizon, target_index, windows.get("vol"), vol_filter,
                     vol_index)
    return to_original_units(values, windows["last"], windows["mu"], windows["sd"], transform)
