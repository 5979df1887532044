"""Per-epoch progress: a line on the console and metrics files in the run directory.

Runs as a Ray Train ``UserCallback`` on the controller, so it sees each report
once, as it arrives, whatever the number of workers. The run directory gets
``metrics.jsonl`` and ``metrics.csv`` (pandas: ``pd.read_csv``) and, for local
storage, TensorBoard event files under ``tensorboard/``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

from ray.train import UserCallback
from tensorboardX import SummaryWriter

from lstmgan_ray.storage import join, read_bytes, write_atomic
from lstmgan_ray.train.feed import say

HISTORY_FILE = "metrics.jsonl"
CSV_FILE = "metrics.csv"


def read_history(run_dir: str) -> list[dict[str, Any]]:
    """The per-epoch metrics a run has reported so far (empty if none)."""
    try:
        text = read_bytes(join(run_dir, HISTORY_FILE)).decode()
    except OSError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def format_epoch(m: dict[str, Any]) -> str:
    if m.get("diverged_at_step"):
        return (f"epoch {m['epoch']:>3}  DIVERGED at step {m['diverged_at_step']}: "
                f"d_loss {m['d_loss']}  g_loss {m['g_loss']}")
    better = "<" if m["val_rmse"] < m["val_rmse_persistence"] else ">="
    return (f"epoch {m['epoch']:>3}  d_loss {m['d_loss']:.4f}  g_loss {m['g_loss']:.4f}  "
            f"val_crps {m.get('val_crps', float('nan')):.5f}  cover90 {m.get('val_coverage90', float('nan')):.2f}  "
            f"val_rmse {m['val_rmse']:.4f} {better} persistence {m['val_rmse_persistence']:.4f}  "
            f"{m['windows_per_s']:.0f} windows/s  {m['epoch_time_s']:.1f}s"
            + (f"  (first step {m['startup_s']:.1f}s after the command)" if "startup_s" in m else ""))


class ProgressCallback(UserCallback):
    """Print one line per epoch and append the metrics to the run directory's files.

    The line goes through ``feed`` (a ``feed.ConsoleFeed``) when given, so the driver prints it.
    """

    def __init__(self, run_dir: str, verbose: bool = True, feed=None):
        self.run_dir = run_dir
        self.verbose = verbose
        self.feed = feed
        self._tb = None

    def after_report(self, run_context, metrics, checkpoint):
        m = dict(metrics[0])  # rank 0's report; every worker reports the same synced values
        if "preempted_at_step" in m:  # a restart point, not an epoch: no history row
            if self.verbose:
                say(self.feed, f"epoch {m['epoch']:>3}  preemption notice for {m['preempted_nodes']} node(s): "
                               f"checkpointed at step {m['preempted_at_step']}")
            return
        if self.verbose:
            say(self.feed, format_epoch(m))
        history = [h for h in read_history(self.run_dir) if h["epoch"] < m["epoch"]] + [m]
        self._write(history)
        self._tensorboard(m)

    def _write(self, history: list[dict[str, Any]]) -> None:
        keys = list(dict.fromkeys(k for h in history for k in h))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
        # Whole files or none: a crash mid-write never leaves a torn file.
        write_atomic(join(self.run_dir, HISTORY_FILE), "".join(json.dumps(h) + "\n" for h in history))
        write_atomic(join(self.run_dir, CSV_FILE), text.getvalue())

    def _tensorboard(self, m: dict[str, Any]) -> None:
        if "://" in self.run_dir:
            return
        if self._tb is None:
            self._tb = SummaryWriter(os.path.join(self.run_dir, "tensorboard"))
        for key, value in m.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self._tb.add_scalar(key, value, m["epoch"])
        self._tb.flush()
