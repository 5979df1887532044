"""Everything a training run checks before Ray or TensorFlow load: the dataset's footers, the
checkpoint to resume from, and the run directory. Bad input fails here, in about a second.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from lstmgan_ray.config import Config
from lstmgan_ray.data.validate import DatasetInfo, inspect_dataset
from lstmgan_ray.storage import claim_output, filesystem_for, holds_entries, resolve_path
from lstmgan_ray.train.checkpoint import SCALER_FILE, check_compatible, verify_checkpoint


@dataclass
class CheckedRun:
    """A run whose inputs passed every check: the config with its name and absolute storage path
    filled in, the inspected dataset, and the verified checkpoint to start from (if any)."""

    cfg: Config
    info: DatasetInfo
    resume_from: str | None

    @property
    def run_dir(self) -> str:
        return f"{self.cfg.run.storage_path}/{self.cfg.run.name}"


def default_run_name() -> str:
    return time.strftime("lstmgan-%Y%m%d-%H%M%S", time.gmtime())


def check_run(cfg: Config, *, resume_from: str | None = None, resume: bool = False,
              overwrite: bool = False) -> CheckedRun:
    """Validate the data and the checkpoint, then claim the run directory.

    Args:
        cfg: the validated config; ``run.name`` is filled in when empty.
        resume_from: a checkpoint directory to continue from; must fit the config and the data.
        resume: continue the run already at ``<storage_path>/<name>``.
        overwrite: delete what is at ``<storage_path>/<name>`` and start over.
    """
    cfg = cfg.model_copy(deep=True)
    cfg.run.name = cfg.run.name or default_run_name()
    cfg.run.storage_path = resolve_path(cfg.run.storage_path)
    if resume_from:
        resume_from = resolve_path(resume_from)
        verify_checkpoint(resume_from)
    run_dir = f"{cfg.run.storage_path}/{cfg.run.name}"
    resumed = [resume_from, latest_checkpoint(run_dir) if resume else None]
    info = inspect_dataset(cfg.data.model_dump(), keep=[c for ckpt in resumed for c in trained_features(ckpt)])
    if resume_from:
        check_compatible(resume_from, cfg.to_dict(), info.features)
    checked = CheckedRun(cfg, info, resume_from)
    claim_run_dir(checked.run_dir, resume=resume, overwrite=overwrite)
    return checked


def latest_checkpoint(run_dir: str) -> str | None:
    """A checkpoint of the run at ``run_dir`` (the last by name; all of a run's share its features)."""
    checkpoints = sorted(e for e in holds_entries(run_dir) if e.startswith("checkpoint_"))
    return f"{run_dir}/{checkpoints[-1]}" if checkpoints else None


def trained_features(checkpoint: str | None) -> list[str]:
    """The features a checkpoint's networks take, which a run resumed from it must keep even where
    the data's own resolution would now drop them (``adj_close`` of checkpoints from before exact
    duplicates were dropped). Empty when unreadable: the checkpoint checks report that."""
    if checkpoint is None:
        return []
    fs, path = filesystem_for(checkpoint)
    try:
        with fs.open_input_stream(f"{path}/{SCALER_FILE}") as fh:
            return list(json.loads(fh.read()).get("features") or [])
    except (OSError, ValueError, AttributeError):
        return []


def claim_run_dir(run_dir: str, *, resume: bool, overwrite: bool) -> None:
    """Refuse to start over an existing run unless told to continue it or replace it."""
    checkpoints = sorted(e for e in holds_entries(run_dir) if e.startswith("checkpoint_"))
    latest = f" (latest {checkpoints[-1]})" if checkpoints else ""
    claim_output(run_dir, resume=resume, overwrite=overwrite,
                 refusal=f"{run_dir} already holds a run{latest}: pass --resume to continue it from its "
                         f"latest checkpoint, --overwrite to delete it and start over, or another --name")
