"""Running a sweep: Ray Tune runs one trial driver per trial, each a full Ray Train run.

The Train V2 pattern (Ray 2.60): ``Tuner(trial_driver)`` where the driver builds the
same ``TensorflowTrainer`` as ``jobs/train.py`` and forwards its reports to Tune.
The Parquet data is read and windowed once per sweep (once per window length in the
space) here on the sweep driver and handed to every trial, so trials do not race to
read the same files. A sweep lives at ``<storage>/<name>``: Tune's state, one
``trial_<id>/train`` Ray Train run per trial (its ``metrics.csv``; Tune's own per-trial
loggers are off), ``sweep.json`` (the spec it started with, so a continued sweep is checked
against it), ``trials.csv``, and ``best/`` + ``best.json`` at the end. With ``run.tracking:
mlflow`` the sweep is also an MLflow parent run with a child per trial (``tracking``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import ray
import ray.tune
from ray.tune import Tuner
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.basic_variant import BasicVariantGenerator

from lstmgan_ray.config import Config, ConfigError, check_tracking
from lstmgan_ray.data.validate import DatasetInfo, inspect_dataset
from lstmgan_ray.storage import (
    Claim,
    Lease,
    Replacement,
    base_name,
    claim_output,
    held_lease,
    join,
    parent,
    read_bytes,
    replacing,
    resolve_path,
    write_atomic,
)
from lstmgan_ray.train import init_ray, prepare_windows, steps_per_epoch
from lstmgan_ray.train.resources import ensure_resources
from lstmgan_ray.tune.callbacks import SweepProgress, start_registry
from lstmgan_ray.tune.results import SweepOutcome, finish_sweep
from lstmgan_ray.tune.space import candidate_values
from lstmgan_ray.tune.sweep_file import SweepSpec, trial_count
from lstmgan_ray.tune.tracking import tracked_sweep, without_tune_loggers
from lstmgan_ray.tune.trial import trial_dirname, trial_driver

SPEC_FILE = "sweep.json"


def run_sweep(spec: SweepSpec, *, name: str | None = None, resume: bool = False, overwrite: bool = False,
              verbose: bool = True, info: DatasetInfo | None = None) -> SweepOutcome:
    """Take the sweep's lease, validate, prepare windows once, run (or restore) the Tuner, then
    tabulate and export the best; the lease is released when the sweep ends, however it ends.

    Args:
        spec: the parsed sweep file with the command line applied.
        name: the sweep's name under ``run.storage_path`` (default ``sweep-<UTC time>``).
        resume: require an existing sweep to continue (re-running the same name continues too).
        overwrite: replace an existing sweep of that name (set aside once the windows are prepared,
            deleted when this sweep exported its best checkpoint, put back when it failed).
        verbose: one line per trial epoch, besides the start/finish lines.
        info: ``inspect_dataset`` of the base config's data, when the caller has already checked it.
    """
    base = spec.base_config()
    name = name or base.run.name or time.strftime("sweep-%Y%m%d-%H%M%S", time.gmtime())
    experiment = join(resolve_path(base.run.storage_path), name)
    check_tracking(base.run)
    info = info or inspect_dataset(base.data.model_dump())
    # Before anything is claimed, set aside or started: a second job on this sweep is refused here.
    with held_lease(experiment) as lease:
        claim = claim_sweep_dir(experiment, spec, resume=resume, overwrite=overwrite)
        return run_claimed(spec, info, experiment, claim, lease, verbose)


def run_claimed(spec: SweepSpec, info: DatasetInfo, experiment: str, claim: Claim, lease: Lease,
                verbose: bool) -> SweepOutcome:
    """Run the sweep at ``experiment``, claimed as ``claim``, under ``lease``."""
    storage, name, base = parent(experiment), base_name(experiment), spec.base_config()
    # The MLflow parent run opens before Ray starts: an unreachable store fails the sweep at once.
    with tracked_sweep(base, name, experiment, resumed=claim is Claim.RESUMED) as tracking:
        if verbose and tracking.target:
            print(tracking.target.describe(base.run.experiment) + " (a child run per trial)", flush=True)
        spec = reserve_resources(spec, verbose)
        windows = prepare_all_windows(spec, info, verbose)
        # A sweep it replaces is set aside only now that the sweep can run, and back if it fails.
        with replacing(experiment, claim is Claim.REPLACED, lease.moving) as replacement:
            save_spec(spec, experiment)
            registry = f"lstmgan-placement-groups-{name}"
            registry_actor = start_registry(registry)  # a named actor lives while its handle does
            trainable = ray.tune.with_resources(
                ray.tune.with_parameters(trial_driver, spec=spec.model_dump(), windows=windows,
                                         experiment_dir=experiment, registry=registry),
                spec.tune.driver_resources)
            if claim is Claim.RESUMED:  # a continued sweep keeps its callbacks (and tracking) as it started
                tuner = restore_tuner(experiment, trainable, verbose)
            else:
                tuner = new_tuner(spec, trainable, storage, name, registry, verbose, tracking.callbacks())
            with without_tune_loggers():
                tuner.fit()
            del registry_actor
            outcome = tracking.outcome = finish_sweep(spec, experiment, verbose=verbose)
            settle(replacement, outcome)
    return outcome


def settle(replacement: Replacement, outcome: SweepOutcome) -> None:
    """What becomes of a sweep this one replaces: deleted when this one exported a best checkpoint,
    back in place when it ended without one, and kept aside (named) when it was interrupted, so
    that this one can be continued and neither is lost."""
    if outcome.interrupted and replacement.aside:
        print(f"the sweep this one replaces is kept at {replacement.aside}; continue this one with --resume, "
              f"and delete that one when you no longer need it", flush=True)
        replacement.keep_aside = True
    replacement.failed = outcome.best is None and not outcome.interrupted


# -- before the sweep ---------------------------------------------------------------

def claim_sweep_dir(experiment: str, spec: SweepSpec, *, resume: bool, overwrite: bool) -> Claim:
    """Decide what to do with ``experiment``: continue the sweep there (RESUMED), start one (NEW), or
    start one that replaces what is there (REPLACED; nothing is deleted here).

    A restorable sweep is continued (re-running a name continues it, as Ray does),
    unless ``overwrite`` without ``resume`` asks to replace it; anything else already
    there is refused unless ``overwrite``, so nothing is lost by accident.
    """
    restorable = Tuner.can_restore(experiment)
    if resume and not restorable:
        raise ConfigError(f"--resume: no sweep to continue at {experiment}")
    if restorable and (resume or not overwrite):
        _check_same_sweep(experiment, spec)
        return Claim.RESUMED
    return claim_output(experiment, overwrite=overwrite,
                        refusal=f"{experiment} exists and holds no Tune sweep; choose another --name or "
                                f"--storage-path (or --overwrite to replace it)")


def _check_same_sweep(experiment: str, spec: SweepSpec) -> None:
    """A sweep continues only with the space and base it started with (placement may change)."""
    try:
        saved = json.loads(read_bytes(join(experiment, SPEC_FILE)))
    except OSError:
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


def reserve_resources(spec: SweepSpec, verbose: bool) -> SweepSpec:
    """Join or start Ray and refuse a sweep no trial of which could ever run; on a local Ray,
    run only as many trials at once as fit (the spec returned says how many)."""
    started = init_ray()
    # Trials ask for their own workers (and so drive an autoscaler); only refuse the impossible.
    ensure_resources(spec.base_config().run, local=started, wait=False)
    return _fit_local_resources(spec, verbose) if started else spec


def _fit_local_resources(spec: SweepSpec, verbose: bool) -> SweepSpec:
    """On a local Ray nothing adds nodes: one trial must fit, and only as many run at once as fit.

    Tune starts a trial's driver before Ray Train asks for its workers; drivers that
    hold every CPU would leave their workers waiting forever.
    """
    run = spec.base_config().run
    have = ray.cluster_resources()
    driver_cpus = spec.tune.driver_resources.get("CPU", 0)
    need = run.min_workers * run.cpus_per_worker + driver_cpus
    if need > have.get("CPU", 0):
        raise ConfigError(
            f"one trial needs {need:g} CPUs (tune.driver_resources CPU {driver_cpus:g} + "
            f"{run.min_workers} worker(s) x {run.cpus_per_worker:g}); this machine's Ray has "
            f"{have.get('CPU', 0):g}")
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


def prepare_all_windows(spec: SweepSpec, info, verbose: bool) -> dict[int, Any]:
    """Windows for every window length in the space, checked against every batch size it allows."""
    if verbose:
        print(f"preparing windows from {len(info.files)} file(s), {info.num_rows} rows, "
              f"window length(s) {spec.window_lengths()}", flush=True)
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


def save_spec(spec: SweepSpec, experiment: str) -> None:
    """``sweep.json``: what the sweep started with, for the same-sweep check of a continuation."""
    write_atomic(join(experiment, SPEC_FILE), json.dumps(spec.model_dump(), indent=2))


# -- the Tuner ----------------------------------------------------------------------

def restore_tuner(experiment: str, trainable, verbose: bool) -> Tuner:
    """Continue unfinished trials; failed ones stay failed (their error is the result)."""
    if verbose:
        print(f"continuing the sweep at {experiment}", flush=True)
    return Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=False,
                         restart_errored=False)


def new_tuner(spec: SweepSpec, trainable, storage: str, name: str, registry: str, verbose: bool,
              tracking: list | None = None) -> Tuner:
    """A new Tuner; ``tracking``: the MLflow logger callback, when the sweep is tracked."""
    base = spec.base_config()
    if verbose:
        print(f"sweep {name}: {trial_count(spec)} trial(s), at most {spec.tune.max_concurrent_trials} "
              f"at once, {base.run.workers_text()} worker(s) each; results in {join(storage, name)}", flush=True)
    return Tuner(
        trainable, param_space=spec.param_space(),
        tune_config=ray.tune.TuneConfig(
            metric=spec.tune.metric, mode=spec.tune.mode, num_samples=spec.tune.num_samples,
            max_concurrent_trials=spec.tune.max_concurrent_trials,
            scheduler=_scheduler(spec), search_alg=_search_alg(spec),
            trial_dirname_creator=trial_dirname),
        run_config=ray.tune.RunConfig(
            name=name, storage_path=storage, verbose=0,
            failure_config=ray.tune.FailureConfig(max_failures=0),
            callbacks=[SweepProgress(registry, verbose), *(tracking or [])]))


def _scheduler(spec: SweepSpec):
    """ASHA with rungs in epochs, up to the most epochs any trial can be given."""
    s = spec.tune.scheduler
    if s.type == "none":
        return FIFOScheduler()
    epochs = spec.base_config().train.epochs
    if "train.epochs" in spec.search_space:
        epochs = max(int(e) for e in candidate_values(spec.search_space["train.epochs"]))
    return ASHAScheduler(time_attr="epoch", max_t=epochs, grace_period=min(s.grace_period, epochs),
                         reduction_factor=s.reduction_factor)


def _search_alg(spec: SweepSpec):
    """Random search (Tune's variant generator) or Optuna's TPE, both seeded."""
    if spec.tune.search_alg == "random":
        return BasicVariantGenerator(random_state=spec.tune.seed, max_concurrent=spec.tune.max_concurrent_trials)
    # Optuna is an optional extra ('lstmgan-ray[optuna]'): imported only when asked for.
    try:
        import optuna
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        raise ConfigError("tune.search_alg=optuna needs Optuna: pip install 'lstmgan-ray[optuna]'") from None
    sampler = optuna.samplers.TPESampler(seed=spec.tune.seed)
    return ConcurrencyLimiter(OptunaSearch(sampler=sampler), max_concurrent=spec.tune.max_concurrent_trials)
