"""Checkpoint layout: everything needed to resume training or to forecast, in one directory.

    generator.keras, discriminator.keras   full models (architecture + weights)
    optimizer_state.npz                    both optimizers' variables and the dropout RNG state
    scaler.json                            features, transforms and per-series scalers
    config.json                            the fully resolved config
    state.json                             epoch and that epoch's metrics (a preemption
                                           checkpoint: also the step it was taken at)

File names are a contract: users' scripts and the sweep's ``best/`` export rely on them.
Models load with Keras' safe mode, so a checkpoint can never run code.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.fs as pafs

from lstmgan_ray.errors import CheckpointError, UserError
from lstmgan_ray.storage import join, list_files, local_copy, path_type, read_bytes, write_atomic

GENERATOR_FILE = "generator.keras"
DISCRIMINATOR_FILE = "discriminator.keras"
OPTIMIZER_FILE = "optimizer_state.npz"
SCALER_FILE = "scaler.json"
CONFIG_FILE = "config.json"
STATE_FILE = "state.json"
REQUIRED_FILES = (GENERATOR_FILE, DISCRIMINATOR_FILE, OPTIMIZER_FILE, SCALER_FILE, CONFIG_FILE, STATE_FILE)


def checkpoint_dir_name(epoch: int) -> str:
    """A run's checkpoint after ``epoch`` completed epochs (a contract, like the file names)."""
    return f"checkpoint_epoch_{epoch:04d}"


def preemption_dir_name(epoch: int, step: int) -> str:
    """A just-in-time checkpoint taken on a preemption notice, ``step`` steps into ``epoch``."""
    return f"checkpoint_preempt_epoch_{epoch:04d}_step_{step:04d}"




def _rng_variables(model) -> list:
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _state_groups(gan) -> list[tuple[str, list]]:
    """Variables besides the weights, by prefix in optimizer_state.npz."""
    return [("d_opt", gan.d_optimizer.variables), ("g_opt", gan.g_optimizer.variables),
            ("g_rng", _rng_variables(gan.generator)), ("d_rng", _rng_variables(gan.discriminator))]


def tracker_variables(gan) -> list:
    return [v for m in gan.metrics for v in m.variables]


def read_trackers(gan) -> list[np.ndarray]:
    """The loss trackers' running sums, summed over workers: every worker must call this
    (a read is a collective under MultiWorkerMirroredStrategy)."""
    return [np.asarray(v.numpy()) for v in tracker_variables(gan)]


def save_checkpoint(directory: str, gan, scaler: dict[str, Any], config: dict[str, Any],
                    epoch: int, metrics: dict[str, Any], step: int = 0,
                    trackers: list[np.ndarray] | None = None) -> str:
    """Write a checkpoint of ``gan`` (an ``LSTMGAN``) into ``directory`` and return it.

    ``epoch`` counts completed epochs; ``step`` > 0 marks a checkpoint taken that many
    steps into the next one (on a preemption notice), with ``trackers`` (``read_trackers``)
    holding that epoch's running loss sums.
    """
    os.makedirs(directory, exist_ok=True)
    gan.generator.save(os.path.join(directory, GENERATOR_FILE))
    gan.discriminator.save(os.path.join(directory, DISCRIMINATOR_FILE))
    arrays = {}
    for prefix, variables in _state_groups(gan):
        for i, v in enumerate(variables):
            arrays[f"{prefix}/{i:04d}"] = np.asarray(v.numpy())
    for i, value in enumerate(trackers if step else []):
        arrays[f"trk/{i:04d}"] = value
    np.savez(os.path.join(directory, OPTIMIZER_FILE), **arrays)
    for name, payload in ((SCALER_FILE, scaler), (CONFIG_FILE, config),
                          (STATE_FILE, {"epoch": int(epoch), "step": int(step), "metrics": metrics})):
        write_atomic(os.path.join(directory, name), json.dumps(payload, indent=1, default=float))
    return directory


def check_checkpoint_dir(directory: str) -> None:
    """Raise CheckpointError naming what is missing from a checkpoint directory (a local path or URI)."""
    try:
        kind = path_type(directory)
        present = set(list_files(directory)) if kind == pafs.FileType.Directory else set()
    except (OSError, UserError) as err:
        raise CheckpointError(f"{directory}: not readable as a checkpoint directory ({_first_line(err)})") from None
    if kind != pafs.FileType.Directory:
        raise CheckpointError(f"{directory}: not a checkpoint directory (does not exist or is a file)")
    missing = [f for f in REQUIRED_FILES if f not in present]
    if missing:
        raise CheckpointError(f"{directory}: not a checkpoint, missing {', '.join(missing)}")


def verify_checkpoint(directory: str) -> None:
    """Raise CheckpointError if files are missing, JSON is unreadable or a model file is truncated."""
    check_checkpoint_dir(directory)
    for name in (SCALER_FILE, CONFIG_FILE, STATE_FILE):
        read_json(directory, name)
    for name in (GENERATOR_FILE, DISCRIMINATOR_FILE, OPTIMIZER_FILE):
        path = join(directory, name)
        try:  # read whole: on object storage every seek of the zip reader would be a request
            with zipfile.ZipFile(io.BytesIO(read_bytes(path))) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError) as err:
            raise CheckpointError(f"{path}: damaged or truncated ({err})") from None
        if bad is not None:
            raise CheckpointError(f"{path}: damaged member {bad}")


def check_compatible(directory: str, config: dict[str, Any], features: list[str]) -> None:
    """Raise CheckpointError naming every way a checkpoint's network or features differ from a run's."""
    saved = read_json(directory, CONFIG_FILE)
    scaler = read_json(directory, SCALER_FILE)
    problems = []
    for key, value in config["model"].items():
        if saved.get("model", {}).get(key) != value:
            problems.append(f"model.{key} is {saved.get('model', {}).get(key)!r} in the checkpoint, {value!r} now")
    for key in ("input_dim", "output_dim", "target", "target_transform"):
        if saved.get("data", {}).get(key) != config["data"][key]:
            problems.append(f"data.{key} is {saved.get('data', {}).get(key)!r} in the checkpoint, "
                            f"{config['data'][key]!r} now")
    if scaler.get("features") != features:
        problems.append(f"features are {scaler.get('features')} in the checkpoint, {features} in the data")
    if problems:
        raise CheckpointError(f"{directory}: does not match this run:\n  " + "\n  ".join(problems))


def read_json(directory: str, name: str, shown_as: str | None = None) -> Any:
    """File ``name`` of a checkpoint directory (local path or URI), parsed; CheckpointError naming it if not
    (in ``shown_as``, the directory as the user gave it, when ``directory`` is a copy of it)."""
    try:
        return json.loads(read_bytes(join(directory, name)))
    except (OSError, UserError, ValueError) as err:
        raise CheckpointError(f"{join(shown_as or directory, name)}: unreadable ({_first_line(err)})") from None


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def restore_training_state(directory: str, gan) -> tuple[int, int]:
    """Load weights, optimizer and RNG state from a checkpoint into a built ``gan``.

    ``directory`` may be a URI: Keras and NumPy read local files, so it is downloaded first.
    Returns (completed epochs, steps into the next epoch); the steps are 0 except for a
    preemption checkpoint, whose loss trackers are restored as well.
    """
    check_checkpoint_dir(directory)
    state = read_json(directory, STATE_FILE)
    step = int(state.get("step", 0))
    with local_copy(directory) as local:
        gan.generator.load_weights(os.path.join(local, GENERATOR_FILE))
        gan.discriminator.load_weights(os.path.join(local, DISCRIMINATOR_FILE))
        gan.build_optimizers()
        with np.load(os.path.join(local, OPTIMIZER_FILE)) as arrays:
            groups = _state_groups(gan) + ([("trk", tracker_variables(gan))] if step else [])
            for prefix, variables in groups:
                keys = sorted(k for k in arrays.files if k.startswith(prefix + "/"))
                if len(keys) != len(variables):
                    raise CheckpointError(f"{join(directory, OPTIMIZER_FILE)}: {prefix} holds {len(keys)} "
                                          f"variables, the model has {len(variables)}")
                for key, var in zip(keys, variables):
                    var.assign(arrays[key])
    return int(state["epoch"]), step


@dataclass
class LoadedCheckpoint:
    """A checkpoint opened for inference."""

    path: str
    generator: Any
    discriminator: Any
    scaler: dict[str, Any]
    config: dict[str, Any]
    state: dict[str, Any]


def load_checkpoint(directory: str, shown_as: str | None = None) -> LoadedCheckpoint:
    """Open a checkpoint (a local directory or a URI) for inference (safe mode: no code from the file is run).

    ``shown_as``: what errors and the result call it when ``directory`` is a copy (an actor's files
    shipped through the object store); a URI's download is named by the URI itself."""
    # Imported here, not at the top: the command lines verify checkpoints (the rest of this
    # module) before TensorFlow loads, so that bad input fails in a second. The networks module
    # registers the generator's custom layer (JoinDraws) that safe-mode loading looks up.
    import keras

    import lstmgan_ray.model.networks  # noqa: F401

    shown_as = shown_as or directory
    check_checkpoint_dir(directory)
    models = []
    # A URI is downloaded once, here: callers (an inference actor) load once and keep the models.
    with local_copy(directory) as local:
        for name in (GENERATOR_FILE, DISCRIMINATOR_FILE):
            try:
                models.append(keras.saving.load_model(os.path.join(local, name), safe_mode=True, compile=False))
            except Exception as err:  # Keras raises many types for a damaged zip
                raise CheckpointError(f"{join(shown_as, name)}: cannot be loaded ({type(err).__name__}: {err})") \
                    from None
        jsons = [read_json(local, name, shown_as) for name in (SCALER_FILE, CONFIG_FILE, STATE_FILE)]
    return LoadedCheckpoint(shown_as, models[0], models[1], *jsons)
