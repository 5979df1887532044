"""Replacing results without losing them: nothing is deleted before its replacement is safe.

Two ways, by what the job writes:

- ``staged_output``: outputs the job writes itself (generate's Parquet, evaluate's report, a
  sweep's ``best/``) go to ``<target>.staging-<random>`` beside the target and are swapped in
  only when complete. On a local disk the swap is two renames; on object storage, where a
  directory cannot be renamed, the old objects are deleted, the staged ones copied in and a
  ``_COMPLETE`` marker written last (the staged copy is removed only after that).
- ``replacing``: directories another system writes in place (Ray Train's run, Ray Tune's
  sweep) cannot be staged, so the old directory is moved aside (``<target>.replaced-<time>``)
  just before the new job starts, deleted when it succeeded and moved back when it failed.
  Moving a run aside and back leaves it resumable: Ray Train's snapshot names its
  checkpoints relative to the run directory. The job's lease moves with the directory; the moves
  run under ``hold`` (the lease's ``moving``), which rewrites it where the job now writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator

from lstmgan_ray.storage.claim import holds_entries
from lstmgan_ray.storage.files import copy_tree, remove_tree, sibling, write_atomic
from lstmgan_ray.storage.paths import is_uri, join

COMPLETE_MARKER = "_COMPLETE"  # written last into a directory swapped in on object storage


def move_dir(src: str, dest: str) -> None:
    """Move directory ``src`` to ``dest`` (absent): a rename locally; copy, then delete, on object storage."""
    if not is_uri(src):
        os.makedirs(os.path.dirname(dest.rstrip("/")), exist_ok=True)
        os.rename(src, dest)
        return
    copy_tree(src, dest)
    remove_tree(src)


def swap_in(staged: str, target: str) -> None:
    """Make ``target`` hold exactly what ``staged`` holds, then remove ``staged``."""
    if not is_uri(target):
        old = sibling(target, f".replaced-{uuid.uuid4().hex[:8]}") if os.path.exists(target) else None
        if old:
            move_dir(target, old)
        move_dir(staged, target)
        if old:
            shutil.rmtree(old, ignore_errors=True)
        return
    remove_tree(target)  # the replacement is complete in ``staged`` and stays there until the end
    copy_tree(staged, target)
    write_atomic(join(target, COMPLETE_MARKER), "")
    remove_tree(staged)


def staging_dir(target: str) -> str:
    """A fresh ``<target>.staging-<random>`` beside ``target`` (same filesystem, so the swap is a rename)."""
    return sibling(target, f".staging-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def staged_output(target: str) -> Iterator[str]:
    """Yield a staging directory to write ``target``'s new contents into; swap it in when the block
    completes, delete it when the block raises (``target`` is then untouched)."""
    staged = staging_dir(target)
    if not is_uri(staged):
        os.makedirs(staged)
    try:
        yield staged
    except BaseException:
        remove_tree(staged)
        raise
    swap_in(staged, target)


class Replacement:
    """An existing directory set aside while the job that replaces it runs."""

    def __init__(self, target: str, hold: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext):
        self.target = target
        self.hold = hold  # around each move: the job's lease must not be refreshed half-way
        self.aside: str | None = None
        self.failed = False  # set by a job that ended without an exception but without results
        self.keep_aside = False  # set by a job that ended unfinished but continuable: keep both

    def set_aside(self) -> None:
        """Move what is at the target aside, if anything."""
        if holds_entries(self.target):
            self.aside = sibling(self.target, time.strftime(".replaced-%Y%m%d-%H%M%S", time.gmtime()))
            with self.hold():
                move_dir(self.target, self.aside)

    def commit(self) -> None:
        """The new results are complete: the old ones go."""
        if self.aside:
            remove_tree(self.aside)
            self.aside = None

    def roll_back(self) -> None:
        """The job failed: its partial results go, the old ones come back where they were."""
        if not self.aside:
            return
        with self.hold():
            remove_tree(self.target)
            move_dir(self.aside, self.target)
        print(f"the previous results are back at {self.target}", file=sys.stderr, flush=True)
        self.aside = None


@contextlib.contextmanager
def replacing(target: str, replace: bool,
              hold: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> Iterator[Replacement]:
    """Run a job that writes ``target`` in place. With ``replace``, what is there is moved aside first,
    deleted when the block completes and moved back when it raises (or sets ``failed``); left aside
    when the block sets ``keep_aside`` (an interrupted job the user may continue). Each move runs
    inside ``hold()`` (the job's ``Lease.moving``)."""
    replacement = Replacement(target, hold)
    if replace:
        replacement.set_aside()
    try:
        yield replacement
    except BaseException:
        replacement.roll_back()
        raise
    if replacement.failed:
        replacement.roll_back()
    elif not replacement.keep_aside:
        replacement.commit()
