"""After a sweep: every trial tabulated from Tune's saved state, and the best checkpoint exported.

Read from the experiment directory rather than from ``Tuner.fit()``'s return value, so
an interrupted-then-resumed sweep, or one restored by another process, tabulates every
trial it ever ran: Tune's saved state for the trials, each trial's training run's
``metrics.jsonl`` for its epochs. The best checkpoint is copied to ``<sweep>/best`` so that it
survives trial checkpoints being pruned, and is found without reading the table.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from ray.tune import ExperimentAnalysis

from lstmgan_ray.storage import as_uri, copy_tree, join, staged_output, write_atomic
from lstmgan_ray.train import METRIC_KEYS
from lstmgan_ray.train.checkpoint import CONFIG_FILE, checkpoint_dir_name, read_json, verify_checkpoint
from lstmgan_ray.train.progress import read_history
from lstmgan_ray.tune.sweep_file import SweepSpec
from lstmgan_ray.tune.trial import TRAIN_RUN, trial_dirname_for

TRIALS_FILE = "trials.csv"
BEST_DIR = "best"
BEST_FILE = "best.json"
UNFINISHED = ("pending", "running", "paused")
CHECKPOINT_COLUMN = "checkpoint_path"  # a report's checkpoint (the name Ray's TuneReportCallback gives it)


@dataclass
class SweepOutcome:
    """A finished (or interrupted) sweep: where it is, its trial table, and the exported best."""

    experiment_dir: str
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None = None
    interrupted: bool = False

    def summary(self) -> dict[str, Any]:
        best = self.best or {}
        return {"best_checkpoint": best.get("checkpoint"), "best_config": best.get("config"),
                "best_metrics": best.get("metrics"), "best_trial": best.get("trial_id"),
                "sweep_dir": self.experiment_dir, "trials": len(self.rows),
                "trials_csv": join(self.experiment_dir, TRIALS_FILE), "interrupted": self.interrupted}


class SweepAnalysis(ExperimentAnalysis):
    """Tune's saved experiment (trials, their configs and states), with each trial's epoch reports read
    from its training run's ``metrics.jsonl``: Tune's own result files are not written (``tracking``)."""

    def __init__(self, experiment: str):
        self.sweep_dir = experiment
        super().__init__(experiment)

    def _fetch_trial_dataframe(self, trial) -> pd.DataFrame:
        return trial_reports(join(self.sweep_dir, trial_dirname_for(trial.trial_id), TRAIN_RUN))


def trial_reports(run_dir: str) -> pd.DataFrame:
    """A trial's epoch reports, each with the checkpoint saved after it (none after a diverged epoch)."""
    history = read_history(run_dir)
    frame = pd.DataFrame(history)
    if history:
        frame[CHECKPOINT_COLUMN] = [None if h.get("diverged_at_step") else
                                    join(run_dir, checkpoint_dir_name(h["epoch"])) for h in history]
    return frame


def finish_sweep(spec: SweepSpec, experiment: str, *, verbose: bool = True) -> SweepOutcome:
    """Tabulate every trial from the saved experiment, write trials.csv, export the best checkpoint."""
    analysis = SweepAnalysis(experiment)
    max_epochs = spec.base_config().train.epochs
    rows = [trial_row(t, analysis.trial_dataframes.get(t.trial_id), spec, max_epochs, experiment)
            for t in sorted(analysis.trials, key=lambda t: t.trial_id)]
    write_table(rows, experiment, verbose=verbose)
    unfinished = sum(r["status"] in UNFINISHED for r in rows)
    if unfinished:
        print(f"sweep interrupted: {len(rows) - unfinished} trial(s) finished, {unfinished} unfinished "
              f"(and any not yet sampled); continue it with --resume", flush=True)
        return SweepOutcome(experiment, rows, None, interrupted=True)
    score = f"best_{spec.tune.metric}"
    candidates = [r for r in rows if r["_checkpoint"] and r[score] is not None]
    if not candidates:
        return SweepOutcome(experiment, rows, None)
    best = export_best(min(candidates, key=lambda r: r[score]), experiment)
    if verbose:
        print(f"best trial {best['trial_id']}: {spec.tune.metric} {best['metrics'][spec.tune.metric]:.5g} "
              f"(epoch {best['metrics']['epoch']}); exported to {best['checkpoint']}", flush=True)
    return SweepOutcome(experiment, rows, best)


def write_table(rows: list[dict[str, Any]], experiment: str, *, verbose: bool) -> None:
    """``trials.csv`` (and the console table): every row without its private ``_`` fields."""
    table = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
    table["best_epoch"] = table["best_epoch"].astype("Int64")
    write_atomic(join(experiment, TRIALS_FILE), table.to_csv(index=False))
    if verbose:
        print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:.5g}"), flush=True)


def trial_row(trial, frame, spec: SweepSpec, max_epochs: int, experiment: str) -> dict[str, Any]:
    """One table row: the sampled values, the best reported epoch and what became of the trial.

    Its checkpoint is a path users can open (``experiment``'s scheme put back on Ray's path).
    """
    metric = spec.tune.metric
    row: dict[str, Any] = {"trial_id": trial.trial_id}
    row.update({key: trial.config.get(key) for key in spec.search_space})
    reported = frame is not None and len(frame) > 0 and metric in frame
    epochs = int(frame["epoch"].max()) if reported else 0
    best = best_report(frame, metric) if reported else None
    row[f"best_{metric}"] = float(best[metric]) if best is not None else None
    # A contract column since the first sweeps: the best epoch's val_rmse, whatever picked that epoch.
    row["best_val_rmse"] = float(best["val_rmse"]) if best is not None and "val_rmse" in best else None
    row.update({
        "best_epoch": int(best["epoch"]) if best is not None else None,
        "epochs": epochs, "status": trial_status(trial, epochs, max_epochs), "error": trial_error(trial),
        "_checkpoint": as_uri(best[CHECKPOINT_COLUMN], experiment) if best is not None else None,
        "_metrics": ({k: _plain(best[k]) for k in METRIC_KEYS if k in best} if best is not None else None),
    })
    return row


def best_report(frame: pd.DataFrame, metric: str) -> pd.Series | None:
    """The trial's best epoch report that has a checkpoint and a finite ``metric``."""
    if CHECKPOINT_COLUMN not in frame:
        return None
    with_ckpt = frame[frame[CHECKPOINT_COLUMN].notna()]
    finite = with_ckpt[with_ckpt[metric].map(lambda v: v is not None and math.isfinite(v))]
    return finite.loc[finite[metric].idxmin()] if len(finite) else None


def trial_status(trial, epochs: int, max_epochs: int) -> str:
    """Tune's status in the table's words; a trial ASHA ended before ``max_epochs`` stopped early."""
    status = {"TERMINATED": "completed", "ERROR": "failed"}.get(trial.status, trial.status.lower())
    return "stopped early" if status == "completed" and epochs < max_epochs else status


def trial_error(trial) -> str:
    if trial.status != "ERROR":
        return ""
    err = trial.get_error()
    return _first_line(str(err)) if err is not None else "error"


def _first_line(text: str) -> str:
    """The line of a Ray error that says what went wrong (not the traceback around it)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln.split(":")[0] or "Diverged" in ln:
            return ln[:300]
    return (lines[-1] if lines else text)[:300]


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers, so best.json and the summary serialise them plainly."""
    return value.item() if hasattr(value, "item") else value


def export_best(row: dict[str, Any], experiment: str) -> dict[str, Any]:
    """Copy the best checkpoint to ``<experiment>/best`` and describe it in ``best.json``.

    The copy is made beside ``best/`` and swapped in whole, so ``best/`` is never half old and
    half new; ``best.json`` is written after it, whole or not at all.
    """
    src = row["_checkpoint"]
    verify_checkpoint(src)
    config = read_json(src, CONFIG_FILE)
    dest = join(experiment, BEST_DIR)
    with staged_output(dest) as staged:
        copy_tree(src, staged)
        verify_checkpoint(staged)
    best = {"trial_id": row["trial_id"], "checkpoint": dest, "source_checkpoint": src,
            "sampled": {k: v for k, v in row.items() if "." in k},
            "config": config, "metrics": row["_metrics"]}
    write_atomic(join(experiment, BEST_FILE), json.dumps(best, indent=2, default=float))
    return best
