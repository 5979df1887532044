"""``jobs/tune.py`` and ``lstmgan-tune``: parse, read the sweep file, run the sweep, print the summary."""

from __future__ import annotations

import argparse

from lstmgan_ray.cli.common import (
    EXIT_FAILED,
    add_common_arguments,
    add_resume_arguments,
    common_flags,
    heavy_imports,
    print_summary,
    print_yaml,
    run_guarded,
    worker_count,
)
from lstmgan_ray.config import check_tracking, resolve_profile


def tune_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstmgan-tune",
        description="Sweep hyperparameters with Ray Tune; every trial is a Ray Train run of the GAN.")
    add_common_arguments(parser, config_help="sweep file: base config, search_space, tune settings; its relative "
                                             "paths are relative to the file (default: the example sweep shipped "
                                             "with the package, configs/sweep.yaml in a checkout)",
                         epochs_help="per-trial maximum epochs (train.epochs)",
                         failures_help="times each trial's Ray Train run restarts from its latest checkpoint, "
                                       "whatever the cause, a bug in the code too (run.max_failures; the example "
                                       "sweep: 1; 0: the trial fails at once)",
                         name_help="sweep name; the sweep lives at STORAGE_PATH/NAME (default sweep-<UTC time>)")
    parser.add_argument("--num-samples", type=int, help="trials to sample (tune.num_samples; x grid points)")
    parser.add_argument("--max-concurrent-trials", type=int, help="trials at once (tune.max_concurrent_trials)")
    parser.add_argument("--search-alg", choices=["random", "optuna"], help="tune.search_alg")
    parser.add_argument("--num-workers", type=worker_count, metavar="N|MIN-MAX",
                        help="Ray Train workers per trial, or a range (run.num_workers)")
    parser.add_argument("--cpus-per-worker", type=float, help="CPUs per worker (run.cpus_per_worker)")
    parser.add_argument("--gpus-per-worker", type=float, help="GPUs per worker with --use-gpu (run.gpus_per_worker)")
    parser.add_argument("--use-gpu", action="store_true", default=None, help="GPU workers")
    add_resume_arguments(parser, "the interrupted sweep at STORAGE_PATH/NAME (re-running it does too)")
    return parser


def _tune(args: argparse.Namespace) -> int:
    from lstmgan_ray.tune import default_sweep_file, load_sweep

    flags = common_flags(args)
    name = flags.pop("run.name")
    profile = resolve_profile(args.profile, **{"run.use_gpu": args.use_gpu})
    spec = load_sweep(args.config or default_sweep_file(), args.overrides, profile=profile, **flags,
                      **{"run.num_workers": args.num_workers, "run.cpus_per_worker": args.cpus_per_worker,
                         "run.gpus_per_worker": args.gpus_per_worker, "run.use_gpu": args.use_gpu,
                         "tune.num_samples": args.num_samples, "tune.search_alg": args.search_alg,
                         "tune.max_concurrent_trials": args.max_concurrent_trials})
    if args.print_config:
        print_yaml(sweep_settings(spec), comment=f"lstmgan-tune, profile {profile}")
        return 0
    check_tracking(spec.base_config().run)
    from lstmgan_ray.data.validate import inspect_dataset  # footers only: bad data fails fast

    info = inspect_dataset(spec.base_config().data.model_dump())
    with heavy_imports(args):
        from lstmgan_ray.tune import run_sweep  # Ray and TensorFlow load only now

    outcome = run_sweep(spec, name=name, resume=args.resume, overwrite=args.overwrite, info=info)
    print_summary(outcome.summary())
    if outcome.interrupted:
        return 130
    return 0 if outcome.best else EXIT_FAILED


def sweep_settings(spec) -> dict:
    """A sweep as ``--print-config`` shows it: the trials' base config, validated, in the sweep
    file's own sections, then the search space and the Tune settings."""
    base = spec.base_config().to_dict()
    if spec.base.get("train", {}).get("n_critic") is None:
        base["train"]["n_critic"] = None  # derived per trial from its sampled train.loss
    return {**base, "search_space": spec.search_space, "tune": spec.tune.model_dump()}


def tune_main(argv: list[str] | None = None) -> int:
    """``jobs/tune.py`` and ``lstmgan-tune``."""
    args = tune_parser().parse_args(argv)
    return run_guarded(_tune, args)
