"""Claiming an output directory: the one refuse / resume / overwrite rule every job follows.

Ray Train silently continues a run it finds at the same storage path and name, and
Parquet writers add files beside old ones; so before a job writes, it claims its
target. Something already there is refused unless the user said ``--resume`` (use it)
or ``--overwrite`` (replace it), so nothing written before is lost by accident. A claim
deletes nothing: what it replaces goes only once the replacement is safe (``replace``).
"""

from __future__ import annotations

import enum

import pyarrow.fs as pafs

from lstmgan_ray.errors import ConfigError
from lstmgan_ray.storage.lock import is_lease_entry
from lstmgan_ray.storage.paths import filesystem_for


class Claim(enum.Enum):
    """What a claimed target held: nothing (new), something kept (resumed) or deleted (replaced)."""

    NEW = "new"
    RESUMED = "resumed"
    REPLACED = "replaced"


def holds_entries(target: str) -> list[str]:
    """Names of the entries directly in directory ``target`` (empty when missing or empty), leaving
    out the job's lease: a directory that holds only a lease holds nothing to resume or replace.

    Raises ConfigError if ``target`` is a file: every job writes a directory.
    """
    fs, path = filesystem_for(target)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        raise ConfigError(f"{target}: is a file; give a directory")
    if info.type == pafs.FileType.NotFound:
        return []
    entries = fs.get_file_info(pafs.FileSelector(path, recursive=False))
    return [e.base_name for e in entries if not is_lease_entry(e.base_name)]


def claim_output(target: str, *, refusal: str, resume: bool = False, overwrite: bool = False) -> Claim:
    """Decide whether a job may write ``target``, or refuse with ``refusal``; nothing is deleted.

    Args:
        target: a local directory or URI.
        refusal: the error message when ``target`` holds something and neither flag was
            given; it should name the flags and the way out.
        resume: keep what is there (the job continues it).
        overwrite: the job replaces what is there (``resume`` wins when both are set); the
            caller swaps the new results in (``replace.staged_output``) or sets the old aside
            (``replace.replacing``) once it knows the job can run.
    """
    if not holds_entries(target):
        return Claim.NEW
    if resume:
        return Claim.RESUMED
    if not overwrite:
        raise ConfigError(refusal)
    return Claim.REPLACED
