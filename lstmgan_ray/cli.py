"""Command-line entry points shared by ``jobs/*.py`` and the console scripts.

Arguments are parsed and the config validated before Ray or TensorFlow are
imported, so bad input fails in about a second with a message, not a traceback.
The last stdout line of every job is one JSON object.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from lstmgan_ray.config import ConfigError, load_config

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def add_common_arguments(parser: argparse.ArgumentParser, *,
                         config_help: str = "YAML config file (default: the reference design)",
                         epochs_help: str = "training epochs (train.epochs)",
                         name_help: str = "run name (run.name)") -> None:
    """Flags every job shares: config file, data, overrides and run placement."""
    parser.add_argument("--config", help=config_help)
    parser.add_argument("--data", help="Parquet file, directory or URI (data.path)")
    parser.add_argument("--target", help="target column (data.target, default close)")
    parser.add_argument("--epochs", type=int, help=epochs_help)
    parser.add_argument("--storage-path", help="local directory or URI for runs (run.storage_path)")
    parser.add_argument("--name", help=name_help)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config key; YAML-typed value; repeatable")
    parser.add_argument("--profile", help="named preset laid under --config/--set/flags: 'fast' = no "
                        "recurrent dropout (cuDNN on GPUs), mixed precision, XLA on GPUs, sqrt learning-rate "
                        "scaling (lstmgan_ray/profiles/fast.yaml); default: the design")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")


def worker_count(text: str) -> int | list[int]:
    """``--num-workers 2`` or ``--num-workers 1-4`` (elastic: at least 1, at most 4)."""
    low, sep, high = text.partition("-")
    try:
        return [int(low), int(high)] if sep else int(low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a count (2) or a range (1-4)") from None


def common_flags(args: argparse.Namespace) -> dict:
    return {"data.path": args.data, "data.target": args.target, "train.epochs": args.epochs,
            "run.storage_path": args.storage_path, "run.name": args.name}


def run_guarded(main: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run ``main``; known input errors become one stderr message and exit code 2."""
    from lstmgan_ray.checkpoint import CheckpointError
    from lstmgan_ray.data import DataError

    try:
        return main(args)
    except (ConfigError, DataError, CheckpointError) as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # training failures surface from Ray wrapped; say what and where
        if args.debug:
            raise
        print(f"error: {type(err).__name__}: {err}\n(rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILED


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstmgan-train", description="Train the LSTM-GAN with Ray Train on Parquet bars.")
    add_common_arguments(parser)
    parser.add_argument("--num-workers", type=worker_count, metavar="N|MIN-MAX",
                        help="Ray Train workers, or a range for an elastic run (run.num_workers)")
    parser.add_argument("--use-gpu", action="store_true", default=None, help="one GPU per worker")
    parser.add_argument("--batch-size", type=int, help="GLOBAL batch size (train.batch_size)")
    parser.add_argument("--resume-from", help="checkpoint directory to continue training from")
    add_resume_arguments(parser, "the run already at STORAGE_PATH/NAME from its latest checkpoint")
    return parser


def add_resume_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--resume`` / ``--overwrite``: what to do with something already at STORAGE_PATH/NAME."""
    parser.add_argument("--resume", action="store_true", help=f"continue {what}")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete what is at STORAGE_PATH/NAME and start over")


def _train(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides, profile=args.profile, **common_flags(args),
                      **{"run.num_workers": args.num_workers, "run.use_gpu": args.use_gpu,
                         "train.batch_size": args.batch_size})
    from lstmgan_ray.train import dumps_summary, run_training

    outcome = run_training(cfg, resume_from=args.resume_from, resume=args.resume, overwrite=args.overwrite)
    disconnect_ray()
    print(f"best checkpoint: {outcome.best_checkpoint}", flush=True)
    print(dumps_summary(outcome), flush=True)
    return 0 if outcome.best_checkpoint else EXIT_FAILED


def disconnect_ray() -> None:
    """Leave Ray before the summary: worker logs forwarded late would otherwise follow it in
    `ray job logs`, and its last line must be the JSON object."""
    if "ray" in sys.modules:
        import ray

        ray.shutdown()


def train_main(argv: list[str] | None = None) -> int:
    """``jobs/train.py`` and ``lstmgan-train``."""
    args = train_parser().parse_args(argv)
    return run_guarded(_train, args)


def tune_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstmgan-tune",
        description="Sweep hyperparameters with Ray Tune; every trial is a Ray Train run of the GAN.")
    add_common_arguments(parser, config_help="sweep file: base config, search_space, tune settings "
                                             "(default: configs/sweep.yaml)",
                         epochs_help="per-trial maximum epochs (train.epochs)",
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
    from lstmgan_ray.sweep import default_sweep_file, load_sweep

    flags = common_flags(args)
    name = flags.pop("run.name")
    spec = load_sweep(args.config or default_sweep_file(), args.overrides, profile=args.profile, **flags,
                      **{"run.num_workers": args.num_workers, "run.cpus_per_worker": args.cpus_per_worker,
                         "run.gpus_per_worker": args.gpus_per_worker, "run.use_gpu": args.use_gpu,
                         "tune.num_samples": args.num_samples, "tune.search_alg": args.search_alg,
                         "tune.max_concurrent_trials": args.max_concurrent_trials})
    from lstmgan_ray.tune import dumps_summary, run_sweep

    outcome = run_sweep(spec, name=name, resume=args.resume, overwrite=args.overwrite)
    print(dumps_summary(outcome), flush=True)
    if outcome.interrupted:
        return 130
    return 0 if outcome.best else EXIT_FAILED


def tune_main(argv: list[str] | None = None) -> int:
    """``jobs/tune.py`` and ``lstmgan-tune``."""
    args = tune_parser().parse_args(argv)
    return run_guarded(_tune, args)
