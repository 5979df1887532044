"""A checkpoint and a dataset checked against each other from files alone, before Ray or TensorFlow.

Lives above ``train`` (it reads the checkpoint layout) and hands ``data.inference`` a plain
``InferenceInputs``.
"""

from __future__ import annotations

from lstmgan_ray.data.contract import make_spec
from lstmgan_ray.data.inference import InferenceInputs
from lstmgan_ray.data.validate import inspect_dataset
from lstmgan_ray.errors import DataError
from lstmgan_ray.storage import resolve_path
from lstmgan_ray.train.checkpoint import (
    CONFIG_FILE,
    SCALER_FILE,
    STATE_FILE,
    check_compatible,
    read_json,
    verify_checkpoint,
)


def open_inputs(checkpoint: str, data_path: str | None) -> InferenceInputs:
    """Check the checkpoint and the dataset against each other from files alone (seconds).

    Args:
        checkpoint: a checkpoint directory (a training run's or a sweep's ``best/``).
        data_path: Parquet file, directory or URI; ``None`` uses the checkpoint's own ``data.path``.
    Raises:
        CheckpointError: missing, unreadable or truncated checkpoint files.
        DataError: unreadable data, missing columns, or a column whose transform the data no
            longer supports (e.g. a zero where the checkpoint takes log returns).
    """
    checkpoint = resolve_path(checkpoint)
    verify_checkpoint(checkpoint)
    config, scaler = read_json(checkpoint, CONFIG_FILE), read_json(checkpoint, SCALER_FILE)
    state = read_json(checkpoint, STATE_FILE)
    data_cfg = dict(config["data"])
    if data_path is not None:
        data_cfg["path"] = data_path
    # The checkpoint fixes the features; 'auto' must not pick a different set from these data.
    data_cfg["features"] = list(scaler["features"])
    info = inspect_dataset(data_cfg)
    check_compatible(checkpoint, config, info.features)
    changed = [f"column {c!r}: the checkpoint transforms it by {scaler['transforms'][c]}, these data "
               f"need {info.transforms[c]} (its values' range differs)"
               for c in info.features if info.transforms[c] != scaler["transforms"][c]]
    if changed:
        raise DataError(f"{data_cfg['path']}: does not fit checkpoint {checkpoint}:\n  " + "\n  ".join(changed))
    spec = make_spec(data_cfg, list(scaler["features"]), dict(scaler["transforms"]))
    return InferenceInputs(checkpoint, config, scaler, state, data_cfg, spec, len(info.files),
                           info.num_rows, info.read_columns)
