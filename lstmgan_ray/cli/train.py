"""``jobs/train.py`` and ``lstmgan-train``: parse, build the config, train, print the summary."""

from __future__ import annotations

import argparse

from lstmgan_ray.cli.common import (
    EXIT_FAILED,
    add_common_arguments,
    add_resume_arguments,
    common_flags,
    disconnect_ray,
    heavy_imports,
    print_summary,
    print_yaml,
    run_guarded,
    worker_count,
)
from lstmgan_ray.config import AUTO_PROFILE, CPU_PROFILE, load_config, resolve_profile


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstmgan-train", description="Train the LSTM-GAN with Ray Train on Parquet bars.")
    add_common_arguments(parser)
    parser.add_argument("--num-workers", type=worker_count, metavar="N|MIN-MAX",
                        help="Ray Train workers, or a range for an elastic run (run.num_workers)")
    parser.add_argument("--use-gpu", action="store_true", default=None, help="one GPU per worker")
    parser.add_argument("--batch-size", type=int, help="GLOBAL batch size (train.batch_size)")
    parser.add_argument("--resume-from", help="checkpoint directory or URI to continue training from")
    add_resume_arguments(parser, "the run already at STORAGE_PATH/NAME from its latest checkpoint")
    return parser


def _train(args: argparse.Namespace) -> int:
    flags = {**common_flags(args), "run.num_workers": args.num_workers, "run.use_gpu": args.use_gpu,
             "train.batch_size": args.batch_size}
    profile = resolve_profile(args.profile, args.config, args.overrides, **flags)
    cfg = load_config(args.config, args.overrides, profile=profile, **flags)
    if args.print_config:
        print_yaml(cfg.to_dict(), comment=f"lstmgan-train, profile {profile}")
        return 0
    if args.profile == AUTO_PROFILE and profile == CPU_PROFILE:
        print("profile cpu (CPU workers): the design's LSTMs at a quarter of their widths, 256 -> 16; "
              "--profile design trains the full design, --use-gpu on GPU workers", flush=True)
    from lstmgan_ray.train.preflight import leased_run  # the lease, footers and files only

    with leased_run(cfg, resume_from=args.resume_from, resume=args.resume, overwrite=args.overwrite) as checked, \
            heavy_imports(args):
        from lstmgan_ray.train.driver import train_checked  # TensorFlow and Ray load only now

        outcome = train_checked(checked)
        disconnect_ray()
    print(f"best checkpoint: {outcome.best_checkpoint}", flush=True)
    print_summary(outcome.summary())
    return 0 if outcome.best_checkpoint else EXIT_FAILED


def train_main(argv: list[str] | None = None) -> int:
    """``jobs/train.py`` and ``lstmgan-train``."""
    args = train_parser().parse_args(argv)
    return run_guarded(_train, args)
