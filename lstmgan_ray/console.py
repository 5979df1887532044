"""What the jobs print while they run: a quiet environment for every process, the filter of
native and Ray start-up chatter, and the progress line (rate and ETA) of long work.

Plain Python with no TensorFlow or Ray, so every layer can use it. By default a job shows only
its own lines plus warnings and errors; ``--verbose`` gives back everything TensorFlow and Ray
print.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import TextIO

VERBOSE_VAR = "LSTMGAN_VERBOSE"
# TensorFlow's C++ logs: 3 keeps fatal errors only (2 still prints "failed call to cuInit" on every
# CPU machine); Ray Data's INFO lines (a banner per dataset execution) off.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "RAY_DATA_LOG_LEVEL": "WARNING"}

# Lines dropped from the console unless --verbose: native INFO/WARNING lines that TensorFlow logs
# before its log level applies (oneDNN, missing CUDA drivers), absl's note about them, and Ray
# notices that are no fault of the job.
NOISE = re.compile("|".join([
    r"^[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]",
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called",
    r"^To enable the following instructions: ",
    r"Progress bars disabled\. To enable, set",
    r"has constructor arguments in the object store and max_restarts > 0",
]))

REPORT_EVERY_S = 30.0  # a progress line this often when the console is not a terminal
REDRAW_EVERY_S = 0.5  # the terminal's progress line redrawn at most this often
BAR_WIDTH = 20


def process_env(verbose: bool) -> dict[str, str]:
    """The environment variables this job sets in its own process and every Ray process it starts."""
    return {VERBOSE_VAR: "1"} if verbose else {**QUIET_ENV, VERBOSE_VAR: "0"}


def set_process_env(verbose: bool) -> None:
    """Set ``process_env`` here, before TensorFlow or Ray load (they read it when they do)."""
    os.environ.update(process_env(verbose))


@contextlib.contextmanager
def job_process_env(verbose: bool) -> Iterator[None]:
    """``set_process_env`` for the length of a job, then the variables as they were: a job run inside
    another process (a test, a notebook) leaves that process's environment as it found it."""
    saved = {key: os.environ.get(key) for key in {*process_env(True), *process_env(False)}}
    set_process_env(verbose)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def is_verbose() -> bool:
    """Whether this process belongs to a job run with ``--verbose`` (unset: verbose, Ray's defaults)."""
    return os.environ.get(VERBOSE_VAR, "1") != "0"


def is_noise(line: str) -> bool:
    return bool(NOISE.search(line))


@contextlib.contextmanager
def native_stderr_filtered(enabled: bool = True) -> Iterator[None]:
    """Drop ``NOISE`` from what native code writes to file descriptor 2 in this block (TensorFlow's
    start-up lines, written by C++ before any log level applies); the rest is written out after it."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines() if not is_noise(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


def format_duration(seconds: float) -> str:
    """``42s``, ``1m05s``, ``2h03m``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def format_progress(label: str, noun: str, done: int, total: int, rate: float | None, unit: str,
                    eta: float | None, bar: bool = False) -> str:
    """``epoch 3  step 120/540  640 windows/s  ETA 1m05s``; with ``bar``, a bar after the label."""
    parts = [label]
    if bar:
        filled = int(BAR_WIDTH * min(done, total) / total) if total else 0
        parts.append("[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]")
    parts.append(f"{noun} {done}/{total}")
    if rate is not None:
        parts.append(f"{rate:.0f} {unit}/s")
    if eta is not None:
        parts.append(f"ETA {format_duration(eta)}")
    return "  ".join(parts)


class ProgressLine:
    """The progress of one piece of work (``total`` items), shown as it advances.

    On a terminal: a single line redrawn in place, with a bar. Otherwise: one line every
    ``every`` seconds (none for work that ends sooner). The rate counts from the first
    update, so start-up time before it does not dilute it; ``per_item`` converts items to
    ``unit`` (a step of 128 windows).
    """

    def __init__(self, label: str, total: int, *, noun: str = "step", unit: str = "windows", per_item: float = 1,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 every: float = REPORT_EVERY_S, tty: bool | None = None):
        self.label, self.total, self.noun, self.unit, self.per_item = label, int(total), noun, unit, per_item
        self.stream = stream or sys.stdout
        self.clock, self.every = clock, every
        self.tty = self.stream.isatty() if tty is None else tty
        self.started: tuple[float, int] | None = None  # (time, done) of the first update
        self.shown_at: float | None = None
        self.drawn = False  # a terminal line is on screen

    def text(self, done: int, now: float, bar: bool = False) -> str:
        rate = eta = None
        if self.started is not None and now > self.started[0] and done > self.started[1]:
            per_s = (done - self.started[1]) / (now - self.started[0])
            rate, eta = per_s * self.per_item, max(self.total - done, 0) / per_s
        return format_progress(self.label, self.noun, done, self.total, rate, self.unit, eta, bar=bar)

    def update(self, done: int) -> str | None:
        """Record ``done`` items; returns the text written, if any was."""
        now = self.clock()
        if self.started is None:
            self.started, self.shown_at = (now, done), now
            return None
        if now - self.shown_at < (REDRAW_EVERY_S if self.tty else self.every):
            return None
        self.shown_at = now
        text = self.text(done, now, bar=self.tty)
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
            self.drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        return text

    def clear(self) -> None:
        """Take a terminal's progress line off the screen (before another line is printed)."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
