"""Everything a training run checks before Ray or TensorFlow load: the dataset's footers, the
checkpoint to resume from, and the run directory. Bad input fails here, in about a second.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from lstmgan_ray.config import Config, check_tracking
from lstmgan_ray.data.validate import DatasetInfo, inspect_dataset
from lstmgan_ray.errors import ConfigError
from lstmgan_ray.storage import Claim, claim_output, holds_entries, is_inside, join, read_bytes, resolve_path
from lstmgan_ray.train.checkpoint import SCALER_FILE, check_compatible, verify_checkpoint


@dataclass
class CheckedRun:
    """A run whose inputs passed every check: the config with its name and absolute storage path
    filled in, the inspected dataset, the verified checkpoint to start from (if any), and whether
    it replaces a run already there (``--overwrite``: set aside only when training starts)."""

    cfg: Config
    info: DatasetInfo
    resume_from: str | None
    replaces: bool = False

    @property
    def run_dir(self) -> str:
        return join(self.cfg.run.storage_path, self.cfg.run.name)


def default_run_name() -> str:
    return time.strftime("lstmgan-%Y%m%d-%H%M%S", time.gmtime())


def check_run(cfg: Config, *, resume_from: str | None = None, resume: bool = False,
              overwrite: bool = False) -> CheckedRun:
    """Validate the data and the checkpoint, then claim the run directory.

    Args:
        cfg: the validated config; ``run.name`` is filled in when empty.
        resume_from: a checkpoint directory to continue from; must fit the config and the data.
        resume: continue the run already at ``<storage_path>/<name>``.
        overwrite: replace what is at ``<storage_path>/<name>``; nothing is deleted here (the
            driver sets the old run aside when training starts and deletes it once the new run
            succeeded).
    """
    check_tracking(cfg.run)
    cfg = cfg.model_copy(deep=True)
    cfg.run.name = cfg.run.name or default_run_name()
    cfg.run.storage_path = resolve_path(cfg.run.storage_path)
    if resume_from:
        resume_from = resolve_path(resume_from)
        verify_checkpoint(resume_from)
    run_dir = join(cfg.run.storage_path, cfg.run.name)
    resumed = [resume_from, latest_checkpoint(run_dir) if resume else None]
    info = inspect_dataset(cfg.data.model_dump(), keep=[c for ckpt in resumed for c in trained_features(ckpt)])
    if resume_from:
        check_compatible(resume_from, cfg.to_dict(), info.features)
    claim = claim_run_dir(run_dir, resume=resume, overwrite=overwrite)
    if claim is Claim.REPLACED and resume_from and is_inside(resume_from, run_dir):
        raise ConfigError(f"--resume-from {resume_from} lies inside the run --overwrite replaces ({run_dir}); "
                          f"start the new run under another --name")
    return CheckedRun(cfg, info, resume_from, replaces=claim is Claim.REPLACED)


def latest_checkpoint(run_dir: str) -> str | None:
    """A checkpoint of the run at ``run_dir`` (the last by name; all of a run's share its features)."""
    checkpoints = sorted(e for e in holds_entries(run_dir) if e.startswith("checkpoint_"))
    return join(run_dir, checkpoints[-1]) if checkpoints else None


def trained_features(checkpoint: str | None) -> list[str]:
    """The features a checkpoint's networks take, which a run resumed from it must keep even where
    the data's own resolution would now drop them (``adj_close`` of checkpoints from before exact
    duplicates were dropped). Empty when unreadable: the checkpoint checks report that."""
    if checkpoint is None:
        return []
    try:
        return list(json.loads(read_bytes(join(checkpoint, SCALER_FILE))).get("features") or [])
    except (OSError, ValueError, AttributeError):
        return []


def claim_run_dir(run_dir: str, *, resume: bool, overwrite: bool) -> Claim:
    """Refuse to start over an existing run unless told to continue it or replace it."""
    checkpoints = sorted(e for e in holds_entries(run_dir) if e.startswith("checkpoint_"))
    latest = f" (latest {checkpoints[-1]})" if checkpoints else ""
    return claim_output(run_dir, resume=resume, overwrite=overwrite,
                        refusal=f"{run_dir} already holds a run{latest}: pass --resume to continue it from its "
                                f"latest checkpoint, --overwrite to replace it, or another --name")
