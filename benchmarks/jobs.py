"""Real ``jobs/train.py`` runs, as a user starts them: wall time, per-epoch metrics, peak memory.

A sampler thread walks the job's process tree (the driver, the Ray processes it
starts, the training workers) and keeps each kind's peak resident memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 1024 * 1024


def process_kind(proc, root_pid: int) -> str:
    """driver | train_worker | ray_worker (tasks, Ray Data, the Train controller) | ray_system."""
    if proc.pid == root_pid:
        return "driver"
    try:
        title = " ".join(proc.cmdline())
    except Exception:
        return "ray_system"
    if "RayTrainWorker" in title:
        return "train_worker"
    return "ray_worker" if title.startswith("ray::") else "ray_system"


def maps_tensorflow(proc) -> bool:
    """Whether a process has TensorFlow's shared libraries loaded (i.e. imported it)."""
    try:
        return any("libtensorflow" in m.path for m in proc.memory_maps(grouped=True))
    except Exception:
        return False


class TreeSampler(threading.Thread):
    """Peak RSS per kind of process in ``pid``'s tree, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak: dict[str, float] = {}
        self.peak_total = 0.0
        self.driver_tensorflow_at: float | None = None
        self._t0 = time.perf_counter()
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil
        import ray  # noqa: F401  (puts the psutil Ray ships on the path)

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        last_maps = 0.0
        while not self._stop_event.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0.0
            for proc in tree:
                try:
                    rss = proc.memory_info().rss / MB
                except psutil.Error:
                    continue
                kind = process_kind(proc, self.pid)
                self.peak[kind] = max(self.peak.get(kind, 0.0), rss)
                total += rss
            self.peak_total = max(self.peak_total, total)
            if self.driver_tensorflow_at is None and time.monotonic() - last_maps > 1.0:
                last_maps = time.monotonic()
                if maps_tensorflow(root):
                    self.driver_tensorflow_at = time.perf_counter() - self._t0
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def windows_count(line: str | None) -> dict[str, int]:
    """``windows: train=7036 val=1494 test=1504; ...`` -> ``{"train": 7036, ...}``."""
    if not line:
        return {}
    head = line.split(";")[0].removeprefix("windows:").split()
    return {k: int(v) for k, v in (item.split("=") for item in head)}


def parse_job_output(lines: list[tuple[float, str]]) -> dict[str, Any]:
    """What the driver printed: its JSON summary (last line), the windows line and when the data
    preparation started and ended (seconds since the command)."""
    stamps = {key: t for t, text in lines for key in ("preparing", "windows:") if text.startswith(key)}
    windows_line = next((text for _, text in lines if text.startswith("windows:")), None)
    return {"summary": json.loads(lines[-1][1]), "windows": windows_count(windows_line),
            "prepare_started_s": stamps.get("preparing"), "windows_ready_s": stamps.get("windows:"),
            "prepare_s": stamps["windows:"] - stamps["preparing"] if len(stamps) == 2 else None}


def run_train_job(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 1200) -> dict[str, Any]:
    """Run ``jobs/train.py ARGS`` (its own local Ray unless ``env`` says otherwise) and measure it.

    ``args`` must include ``--storage-path`` and ``--name``; the run's ``metrics.jsonl`` is
    read from the summary's ``run_dir``.
    """
    cmd = [sys.executable, os.path.join(ROOT, "jobs", "train.py"), *args]
    full_env = {**os.environ, "RAY_ADDRESS": "local", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT,
                **(env or {})}
    lines: list[tuple[float, str]] = []
    with tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT, env=full_env)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        for line in proc.stdout:
            lines.append((time.perf_counter() - started, line.rstrip("\n")))
        proc.wait()
        timer.cancel()
        wall = time.perf_counter() - started
        sampler.stop()
        err.seek(0)
        stderr_tail = err.read()[-3000:]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{stderr_tail}")
    out = parse_job_output(lines)
    with open(os.path.join(out["summary"]["run_dir"], "metrics.jsonl")) as fh:
        history = [json.loads(line) for line in fh if line.strip()]
    return {"command": " ".join(["jobs/train.py", *args]), "wall_s": wall, "history": history,
            "windows": out["windows"], "prepare_s": out["prepare_s"],
            "prepare_started_s": out["prepare_started_s"], "windows_ready_s": out["windows_ready_s"],
            "peak_rss_mb": dict(sampler.peak), "peak_rss_total_mb": sampler.peak_total,
            "driver_imports_tensorflow_after_s": sampler.driver_tensorflow_at}
