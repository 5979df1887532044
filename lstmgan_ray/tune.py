"""Hyperparameter sweeps: Ray Tune runs one driver function per trial, each a full Ray Train run.

The Train V2 pattern (Ray 2.60): ``Tuner(trial_driver)`` where the driver builds
the same ``TensorflowTrainer`` as ``jobs/train.py`` and forwards its reports with
``TuneReportCallback``. The Parquet data is read and windowed once per sweep (once
per window length in the space) on the sweep driver and handed to every trial.
A sweep lives at ``<storage>/<name>``: Tune's state, one ``trial_<id>/train`` Ray
Train run per trial, ``trials.csv``, and ``best/`` + ``best.json`` at the end.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

from lstmgan_ray.sweep import SweepSpec, trial_count

TRIALS_FILE = "trials.csv"
BEST_DIR = "best"
BEST_FILE = "best.json"
SPEC_FILE = "sweep.json"
TRAIN_RUN = "train"


def trial_dirname(trial) -> str:
    """Tune trial directory: the trial id alone, so paths are short and stable across restores."""
    return f"trial_{trial.trial_id}"


def trial_driver(config: dict[str, Any], *, spec: dict[str, Any], windows: dict[int, Any],
                 experiment_dir: str, registry: str | None = None) -> None:
    """One trial: the sampled config as a Ray Train run under ``<experiment>/trial_<id>/train``.

    Re-running a trial (a restored sweep) finds its Ray Train run by the same
    storage path and name and continues it from its latest checkpoint.
    """
    import ray.tune

    from lstmgan_ray.progress import ProgressCallback
    from lstmgan_ray.tune_callbacks import PlacementGroupRecorder, epoch_report_callback
    from lstmgan_ray.train import make_trainer, outcome_from_result, raise_if_diverged, steps_per_epoch

    sweep = SweepSpec.model_validate(spec)
    cfg = sweep.trial_config({key: config[key] for key in sweep.search_space})
    trial_id = ray.tune.get_context().get_trial_id()
    storage = f"{experiment_dir}/trial_{trial_id}"
    prepared = windows[cfg.data.input_dim]
    resolved = cfg.to_dict()
    resolved["run"].update(name=TRAIN_RUN, storage_path=storage)
    callbacks = [epoch_report_callback(), ProgressCallback(f"{storage}/{TRAIN_RUN}", verbose=False)]
    if registry is not None:
        callbacks.append(PlacementGroupRecorder(registry, trial_id))
    trainer = make_trainer(resolved, prepared, storage_path=storage, name=TRAIN_RUN, callbacks=callbacks)
    outcome = outcome_from_result(trainer.fit())
    raise_if_diverged(outcome, steps_per_epoch(cfg, prepared.counts))


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
                "trials_csv": f"{self.experiment_dir}/{TRIALS_FILE}", "interrupted": self.interrupted}


def run_sweep(spec: SweepSpec, *, name: str | None = None, resume: bool = False, overwrite: bool = False,
              verbose: bool = True) -> SweepOutcome:
    """Validate, prepare windows once, run (or restore) the Tuner, then tabulate and export the best.

    Args:
        spec: the parsed sweep file with the command line applied.
        name: the sweep's name under ``run.storage_path`` (default ``sweep-<UTC time>``).
        resume: require an existing sweep to continue (re-running the same name continues too).
        overwrite: delete an existing sweep of that name and start over.
        verbose: one line per trial epoch, besides the start/finish lines.
    """
    from lstmgan_ray.config import ConfigError
    from lstmgan_ray.train import init_ray, resolve_storage_path
    from lstmgan_ray.validate import filesystem_for, inspect_dataset

    base = spec.base_config()
    name = name or base.run.name or time.strftime("sweep-%Y%m%d-%H%M%S", time.gmtime())
    storage = resolve_storage_path(base.run.storage_path)
    experiment = f"{storage}/{name}"
    info = inspect_dataset(base.data.model_dump())

    from ray.tune import Tuner

    restoring = Tuner.can_restore(experiment)
    fs, exp_path = filesystem_for(experiment)
    if overwrite and restoring:
        fs.delete_dir(exp_path)
        restoring = False
    if resume and not restoring:
        raise ConfigError(f"--resume: no sweep to continue at {experiment}")
    if restoring:
        _check_same_sweep(fs, exp_path, spec, experiment)
    elif _non_empty(fs, exp_path):
        raise ConfigError(f"{experiment} exists and holds no Tune sweep; choose another --name or "
                          f"--storage-path (or --overwrite to delete it)")

    from lstmgan_ray.cluster_checks import ensure_resources

    started = init_ray()
    # Trials ask for their own workers (and so drive an autoscaler); only refuse the impossible.
    ensure_resources(base.run, local=started, wait=False)
    if started:
        spec = _fit_local_resources(spec, verbose)
    if verbose:
        print(f"preparing windows from {len(info.files)} file(s), {info.num_rows} rows, "
              f"window length(s) {spec.window_lengths()}", flush=True)
    windows = _prepare_all_windows(spec, info)
    fs.create_dir(exp_path, recursive=True)
    with fs.open_output_stream(f"{exp_path}/{SPEC_FILE}") as fh:
        fh.write(json.dumps(spec.model_dump(), indent=2).encode())

    import ray.tune

    from lstmgan_ray.tune_callbacks import SweepProgress, start_registry

    registry = f"lstmgan-placement-groups-{name}"
    registry_actor = start_registry(registry)  # a named actor lives while its handle does
    trainable = ray.tune.with_resources(
        ray.tune.with_parameters(trial_driver, spec=spec.model_dump(), windows=windows,
                                 experiment_dir=experiment, registry=registry),
        spec.tune.driver_resources)
    if restoring:
        if verbose:
            print(f"continuing the sweep at {experiment}", flush=True)
        tuner = Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=False,
                              restart_errored=False)
    else:
        if verbose:
            print(f"sweep {name}: {trial_count(spec)} trial(s), at most {spec.tune.max_concurrent_trials} "
                  f"at once, {base.run.workers_text()} worker(s) each; results in {experiment}", flush=True)
        tuner = Tuner(
            trainable, param_space=spec.param_space(),
            tune_config=ray.tune.TuneConfig(
                metric=spec.tune.metric, mode=spec.tune.mode, num_samples=spec.tune.num_samples,
                max_concurrent_trials=spec.tune.max_concurrent_trials,
                scheduler=_scheduler(spec), search_alg=_search_alg(spec),
                trial_dirname_creator=trial_dirname),
            run_config=ray.tune.RunConfig(
                name=name, storage_path=storage, verbose=0,
                failure_config=ray.tune.FailureConfig(max_failures=0),
                callbacks=[SweepProgress(registry, verbose)]))
    tuner.fit()
    del registry_actor
    return finish_sweep(spec, experiment, verbose=verbose)


def _non_empty(fs, path: str) -> bool:
    import pyarrow.fs as pafs

    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return False
    return bool(fs.get_file_info(pafs.FileSelector(path, recursive=False)))


def _check_same_sweep(fs, exp_path: str, spec: SweepSpec, experiment: str) -> None:
    """A sweep continues only with the space and base it started with (placement may change)."""
    from lstmgan_ray.config import Config, ConfigError

    try:
        with fs.open_input_stream(f"{exp_path}/{SPEC_FILE}") as fh:
            saved = json.loads(fh.read())
    except (FileNotFoundError, OSError):
        return
    now = spec.model_dump()
    changed = [f"search_space.{k}" for k in sorted(set(saved["search_space"]) | set(now["search_space"]))
               if saved["search_space"].get(k) != now["search_space"].get(k)]
    was, base = Config.from_dict(saved["base"]).to_dict(), spec.base_config().to_dict()
    for section in ("data", "model", "train"):
        changed += [f"{section}.{k}" for k in sorted(base[section]) if was[section][k] != base[section][k]]
    if changed:
        raise ConfigError(f"{experiment} was started with different settings ({', '.join(changed)}); "
                          f"continue it with the same sweep file and flags, or pass --overwrite or "
                          f"another --name")


def _fit_local_resources(spec: SweepSpec, verbose: bool) -> SweepSpec:
    """On a local Ray nothing adds nodes: one trial must fit, and only as many run at once as fit.

    Tune starts a trial's driver before Ray Train asks for its workers; drivers that
    hold every CPU would leave their workers waiting forever.
    """
    import ray

    from lstmgan_ray.config import ConfigError

    run = spec.base_config().run
    have = ray.cluster_resources()
    need = run.min_workers * run.cpus_per_worker + spec.tune.driver_resources.get("CPU", 0)
    if need > have.get("CPU", 0):
        raise ConfigError(
            f"one trial needs {need:g} CPUs (tune.driver_resources CPU "
            f"{spec.tune.driver_resources.get('CPU', 0):g} + {run.min_workers} worker(s) x "
            f"{run.cpus_per_worker:g}); this machine's Ray has {have.get('CPU', 0):g}")
    fit = int(have.get("CPU", 0) // need) if need > 0 else spec.tune.max_concurrent_trials
    if run.use_gpu:
        fit = min(fit, int(have.get("GPU", 0) // (run.min_workers * run.gpus_per_worker)))
    if spec.tune.max_concurrent_trials <= fit:
        return spec
    if verbose:
        print(f"this machine's Ray holds {fit} trial(s) of {need:g} CPUs at once; running "
              f"{fit} at a time instead of tune.max_concurrent_trials={spec.tune.max_concurrent_trials}",
              flush=True)
    spec = spec.model_copy(deep=True)
    spec.tune.max_concurrent_trials = fit
    return spec


def _prepare_all_windows(spec: SweepSpec, info) -> dict[int, Any]:
    """Windows for every window length in the space, checked against every batch size it allows."""
    from lstmgan_ray.sweep import candidate_values
    from lstmgan_ray.train import prepare_windows, steps_per_epoch

    base = spec.base_config()
    batches = ([int(b) for b in candidate_values(spec.search_space["train.batch_size"])]
               if "train.batch_size" in spec.search_space else [base.train.batch_size])
    windows = {}
    for length in spec.window_lengths():
        cfg = base.model_copy(deep=True)
        cfg.data.input_dim = length
        windows[length] = prepare_windows(cfg, info)
        cfg.train.batch_size = max(batches)
        steps_per_epoch(cfg, windows[length].counts)
    return windows


def _scheduler(spec: SweepSpec):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    s = spec.tune.scheduler
    if s.type == "none":
        return FIFOScheduler()
    epochs = spec.base_config().train.epochs
    if "train.epochs" in spec.search_space:
        from lstmgan_ray.sweep import candidate_values

        epochs = max(int(e) for e in candidate_values(spec.search_space["train.epochs"]))
    return ASHAScheduler(time_attr="epoch", max_t=epochs, grace_period=min(s.grace_period, epochs),
                         reduction_factor=s.reduction_factor)


def _search_alg(spec: SweepSpec):
    """Random search (Tune's variant generator) or Optuna's TPE, both seeded."""
    from lstmgan_ray.config import ConfigError

    if spec.tune.search_alg == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(random_state=spec.tune.seed,
                                     max_concurrent=spec.tune.max_concurrent_trials)
    try:
        import optuna
    except ImportError:
        raise ConfigError("tune.search_alg=optuna needs Optuna: pip install 'lstmgan-ray[optuna]'") from None
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    sampler = optuna.samplers.TPESampler(seed=spec.tune.seed)
    return ConcurrencyLimiter(OptunaSearch(sampler=sampler), max_concurrent=spec.tune.max_concurrent_trials)


# -- after the sweep ----------------------------------------------------------------

def finish_sweep(spec: SweepSpec, experiment: str, *, verbose: bool = True) -> SweepOutcome:
    """Tabulate every trial from the saved experiment, write trials.csv, export the best checkpoint."""
    import pandas as pd
    from ray.tune import ExperimentAnalysis

    from lstmgan_ray.validate import filesystem_for

    analysis = ExperimentAnalysis(experiment)
    max_epochs = spec.base_config().train.epochs
    rows = [trial_row(t, analysis.trial_dataframes.get(t.trial_id), spec, max_epochs)
            for t in sorted(analysis.trials, key=lambda t: t.trial_id)]
    interrupted = any(r["status"] in ("pending", "running", "paused") for r in rows)
    fs, exp_path = filesystem_for(experiment)
    table = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
    table["best_epoch"] = table["best_epoch"].astype("Int64")
    with fs.open_output_stream(f"{exp_path}/{TRIALS_FILE}") as fh:
        fh.write(table.to_csv(index=False).encode())
    if verbose:
        print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:.5g}"), flush=True)
    if interrupted:
        unfinished = sum(r["status"] in ("pending", "running", "paused") for r in rows)
        print(f"sweep interrupted: {len(rows) - unfinished} trial(s) finished, {unfinished} unfinished "
              f"(and any not yet sampled); continue it with --resume", flush=True)
        return SweepOutcome(experiment, rows, None, interrupted=True)
    candidates = [r for r in rows if r["_checkpoint"] and r["best_val_rmse"] is not None]
    if not candidates:
        return SweepOutcome(experiment, rows, None)
    best = export_best(min(candidates, key=lambda r: r["best_val_rmse"]), experiment)
    if verbose:
        print(f"best trial {best['trial_id']}: val_rmse {best['metrics']['val_rmse']:.5g} "
              f"(epoch {best['metrics']['epoch']}); exported to {best['checkpoint']}", flush=True)
    return SweepOutcome(experiment, rows, best)


def trial_row(trial, frame, spec: SweepSpec, max_epochs: int) -> dict[str, Any]:
    """One table row: the sampled values, the best reported epoch and what became of the trial."""
    from lstmgan_ray.train import METRIC_KEYS

    row: dict[str, Any] = {"trial_id": trial.trial_id}
    for key in spec.search_space:
        row[key] = trial.config.get(key)
    best, epochs = None, 0
    if frame is not None and len(frame) and "val_rmse" in frame:
        epochs = int(frame["epoch"].max())
        with_ckpt = frame[frame.get("checkpoint_path").notna()] if "checkpoint_path" in frame else frame[:0]
        finite = with_ckpt[with_ckpt["val_rmse"].map(lambda v: v is not None and math.isfinite(v))]
        if len(finite):
            best = finite.loc[finite["val_rmse"].idxmin()]
    status = {"TERMINATED": "completed", "ERROR": "failed"}.get(trial.status, trial.status.lower())
    if status == "completed" and epochs < max_epochs:
        status = "stopped early"
    error = ""
    if trial.status == "ERROR":
        err = trial.get_error()
        error = _first_line(str(err)) if err is not None else "error"
    row.update({
        "best_val_rmse": float(best["val_rmse"]) if best is not None else None,
        "best_epoch": int(best["epoch"]) if best is not None else None,
        "epochs": epochs, "status": status, "error": error,
        "_checkpoint": best["checkpoint_path"] if best is not None else None,
        "_metrics": ({k: _plain(best[k]) for k in METRIC_KEYS if k in best} if best is not None else None),
    })
    return row


def _first_line(text: str) -> str:
    """The line of a Ray error that says what went wrong (not the traceback around it)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln.split(":")[0] or "Diverged" in ln:
            return ln[:300]
    return (lines[-1] if lines else text)[:300]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def export_best(row: dict[str, Any], experiment: str) -> dict[str, Any]:
    """Copy the best checkpoint to ``<experiment>/best`` and describe it in ``best.json``."""
    import pyarrow.fs as pafs

    from lstmgan_ray.checkpoint import CONFIG_FILE, verify_checkpoint
    from lstmgan_ray.validate import filesystem_for

    src = row["_checkpoint"]
    if "://" not in src:
        verify_checkpoint(src)
    fs, exp_path = filesystem_for(experiment)
    src_fs, src_path = filesystem_for(src)
    with src_fs.open_input_stream(f"{src_path}/{CONFIG_FILE}") as fh:
        config = json.loads(fh.read())
    dest = f"{exp_path}/{BEST_DIR}"
    if fs.get_file_info(dest).type != pafs.FileType.NotFound:
        fs.delete_dir(dest)
    fs.create_dir(dest, recursive=True)
    pafs.copy_files(src_path, dest, source_filesystem=src_fs, destination_filesystem=fs)
    best = {"trial_id": row["trial_id"], "checkpoint": f"{experiment}/{BEST_DIR}", "source_checkpoint": src,
            "sampled": {k: v for k, v in row.items() if "." in k},
            "config": config, "metrics": row["_metrics"]}
    with fs.open_output_stream(f"{exp_path}/{BEST_FILE}") as fh:
        fh.write(json.dumps(best, indent=2, default=float).encode())
    return best


def dumps_summary(outcome: SweepOutcome) -> str:
    return json.dumps(outcome.summary(), default=float)


