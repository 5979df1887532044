"""Everything a training run checks before Ray or TensorFlow load: the run's lease, the dataset's
footers, the checkpoint to resume from, and the run directory. Bad input fails here, in about a second.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

from lstmgan_ray.config import Config, check_tracking
from lstmgan_ray.data.validate import DatasetInfo, inspect_dataset
from lstmgan_ray.errors import ConfigError
from lstmgan_ray.storage import (
    Claim,
    Lease,
    claim_output,
    held_lease,
    holds_entries,
    is_inside,
    join,
    list_files,
    read_bytes,
    resolve_path,
)
from lstmgan_ray.train.checkpoint import CONFIG_FILE, SCALER_FILE, check_compatible, verify_checkpoint


@dataclass
class CheckedRun:
    """A run whose inputs passed every check: the config with its name and absolute storage path
    filled in, the inspected dataset, the verified checkpoint to start from (if any), and whether
    it replaces a run already there (``--overwrite``: set aside only when training starts)."""

    cfg: Config
    info: DatasetInfo
    resume_from: str | None
    replaces: bool = False
    lease: Lease | None = None  # held by the driver from the checks to the end of the job

    @property
    def run_dir(self) -> str:
        return join(self.cfg.run.storage_path, self.cfg.run.name)


def default_run_name() -> str:
    return time.strftime("lstmgan-%Y%m%d-%H%M%S", time.gmtime())


def placed(cfg: Config) -> Config:
    """A copy of ``cfg`` with the run's name (``lstmgan-<UTC time>`` when empty) and an absolute storage path."""
    cfg = cfg.model_copy(deep=True)
    cfg.run.name = cfg.run.name or default_run_name()
    cfg.run.storage_path = resolve_path(cfg.run.storage_path)
    return cfg


@contextlib.contextmanager
def leased_run(cfg: Config, **options) -> Iterator[CheckedRun]:
    """``check_run`` under the run directory's lease, which the driver holds until the block ends.

    The lease comes first, so a second job on the same run (a ``--resume`` while the first still
    runs) is refused, naming the one that runs, before it reads anything; it is released however
    the job ends. Ray Train's workers never touch it.
    """
    cfg = placed(cfg)
    with held_lease(join(cfg.run.storage_path, cfg.run.name)) as lease:
        checked = check_run(cfg, **options)
        checked.lease = lease
        yield checked


def check_run(cfg: Config, *, resume_from: str | None = None, resume: bool = False,
              overwrite: bool = False) -> CheckedRun:
    """Validate the data and the checkpoint, then claim the run directory.

    Args:
        cfg: the validated config; ``run.name`` is filled in when empty.
        resume_from: a checkpoint directory to continue from; must fit the config and the data.
        resume: continue the run already at ``<storage_path>/<name>``, which must hold a
            checkpoint that fits the config and the data (the checks of ``resume_from``).
        overwrite: replace what is at ``<storage_path>/<name>``; nothing is deleted here (the
            driver sets the old run aside when training starts and deletes it once the new run
            succeeded).
    """
    check_tracking(cfg.run)
    cfg = placed(cfg)
    if resume_from:
        resume_from = resolve_path(resume_from)
        verify_checkpoint(resume_from)
    run_dir = join(cfg.run.storage_path, cfg.run.name)
    resumed = [ckpt for ckpt in (resume_from, checkpoint_to_resume(run_dir) if resume else None) if ckpt]
    info = inspect_dataset(cfg.data.model_dump(), keep=[c for ckpt in resumed for c in trained_features(ckpt)])
    for ckpt in resumed:
        check_compatible(ckpt, cfg.to_dict(), info.features)
    claim = claim_run_dir(run_dir, resume=resume, overwrite=overwrite)
    if claim is Claim.REPLACED and resume_from and is_inside(resume_from, run_dir):
        raise ConfigError(f"--resume-from {resume_from} lies inside the run --overwrite replaces ({run_dir}); "
                          f"start the new run under another --name")
    return CheckedRun(cfg, info, resume_from, replaces=claim is Claim.REPLACED)


def checkpoint_to_resume(run_dir: str) -> str:
    """The latest checkpoint of the run ``--resume`` continues, which the run's config and data are
    checked against; ConfigError naming ``run_dir`` when there is none, so a mistyped name or
    storage path fails instead of starting a new run."""
    if not holds_entries(run_dir):
        raise ConfigError(f"--resume: there is no run at {run_dir} to continue; check --storage-path and --name "
                          f"(without --resume a new run starts there)")
    latest = latest_checkpoint(run_dir)
    if latest is None:
        raise ConfigError(f"--resume: {run_dir} holds no checkpoint to continue from (the run ended before its "
                          f"first one); pass --overwrite instead to start it again")
    return latest


CHECKPOINT_NAME = re.compile(r"checkpoint_(preempt_)?epoch_(\d+)(?:_step_(\d+))?$")


def checkpoint_order(name: str) -> tuple[int, int, str]:
    """Sort key of a run's checkpoints by training progress: ``checkpoint_epoch_0002`` (2 epochs done)
    before ``checkpoint_preempt_epoch_0003_step_0005`` (5 steps into the third) before
    ``checkpoint_epoch_0003``."""
    match = CHECKPOINT_NAME.match(name)
    if not match:
        return (-1, 0, name)
    epoch = int(match.group(2)) - (1 if match.group(1) else 0)
    return (epoch, int(match.group(3) or 0), name)


def latest_checkpoint(run_dir: str) -> str | None:
    """The run's furthest checkpoint whose config and scaler are there (a copy cut short by a killed
    job lacks them; all of a run's checkpoints share network and features)."""
    checkpoints = sorted((e for e in holds_entries(run_dir) if e.startswith("checkpoint_")), key=checkpoint_order)
    for name in reversed(checkpoints):
        if {CONFIG_FILE, SCALER_FILE} <= set(list_files(join(run_dir, name))):
            return join(run_dir, name)
    return None


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
    checkpoints = sorted((e for e in holds_entries(run_dir) if e.startswith("checkpoint_")), key=checkpoint_order)
    latest = f" (latest {checkpoints[-1]})" if checkpoints else ""
    return claim_output(run_dir, resume=resume, overwrite=overwrite,
                        refusal=f"{run_dir} already holds a run{latest}: pass --resume to continue it from its "
                                f"latest checkpoint, --overwrite to replace it, or another --name")
