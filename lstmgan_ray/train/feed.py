"""The console feed: lines and progress counts from Ray processes, printed by the job's driver.

Training workers, the Ray Train controller and the generator actors put records into a small
actor (``ConsoleFeed``); the driver polls it (``FeedPrinter``) and prints them itself, so the
console shows the job's own lines without Ray's ``(TrainController pid=...)`` prefixes, and a
progress line (rate, ETA) within epochs and through generation.

Records: ``{"line": text}``; ``{"at": done, "label": ..., "total": ...}`` (training steps, absolute;
a new label starts a new progress line); ``{"add": n}`` (items done, for the current ``track``).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import ray

from lstmgan_ray.console import ProgressLine

POLL_S = 1.0  # how often the driver polls the feed
STEP_REPORT_S = 2.0  # how often rank 0 sends its step count


@ray.remote(num_cpus=0, max_concurrency=4)
class ConsoleFeed:
    """Records in the order they arrive, taken by the driver."""

    def __init__(self):
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def put(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.records.append(record)

    def take(self) -> list[dict[str, Any]]:
        with self.lock:
            out, self.records = self.records, []
        return out


def say(feed, text: str) -> None:
    """A line for the console: through the feed when there is one, else printed here."""
    if feed is None:
        print(text, flush=True)
    else:
        feed.put.remote({"line": text})


class StepReporter:
    """Rank 0's step counts, sent at most every ``STEP_REPORT_S`` seconds (fire and forget)."""

    def __init__(self, feed, total: int, clock=time.monotonic):
        self.feed, self.total, self.clock, self.sent_at = feed, total, clock, None

    def __call__(self, epoch: int, done: int) -> None:
        now = self.clock()
        if self.feed is None or (self.sent_at is not None and now - self.sent_at < STEP_REPORT_S and done > 1):
            return
        self.sent_at = now
        self.feed.put.remote({"at": done, "label": f"epoch {epoch}", "total": self.total})


class FeedPrinter:
    """The driver's side: a thread that polls the feed and prints what it holds.

    ``with FeedPrinter(...) as printer:`` starts it; leaving the block prints what is left and
    stops the actor, so nothing the job's processes said is printed after the summary line.
    """

    def __init__(self, *, per_step: float = 1, stream=None, poll_s: float = POLL_S):
        self.feed = ConsoleFeed.remote()
        self.per_step, self.stream, self.poll_s = per_step, stream or sys.stdout, poll_s
        self.line: ProgressLine | None = None
        self.done = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="lstmgan-console", daemon=True)
        self.lock = threading.Lock()

    def __enter__(self) -> FeedPrinter:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()
        self.poll()
        self.end_track()
        ray.kill(self.feed)

    def _run(self) -> None:
        while not self.stopped.wait(self.poll_s):
            self.poll()

    def poll(self) -> None:
        try:
            records = ray.get(self.feed.take.remote(), timeout=30)
        except Exception:  # a slow or gone feed never stops the job; the next poll tries again
            return
        with self.lock:
            for record in records:
                self.show(record)

    def show(self, record: dict[str, Any]) -> None:
        if "line" in record:
            if self.line is not None:
                self.line.clear()
            print(record["line"], file=self.stream, flush=True)
        elif "at" in record:
            if self.line is None or self.line.label != record["label"]:
                self.line = ProgressLine(record["label"], record["total"], per_item=self.per_step,
                                         stream=self.stream)
            self.line.update(record["at"])
        elif "add" in record and self.line is not None:
            self.done += record["add"]
            self.line.update(self.done)

    def track(self, label: str, total: int, noun: str = "windows", unit: str = "windows") -> None:
        """Count the next ``{"add": n}`` records toward ``total`` items of a new progress line."""
        self.poll()
        with self.lock:
            self.end_track()
            self.line, self.done = ProgressLine(label, total, noun=noun, unit=unit, stream=self.stream), 0

    def end_track(self) -> None:
        if self.line is not None:
            self.line.clear()
        self.line = None
