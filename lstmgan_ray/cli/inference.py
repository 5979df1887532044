"""Command lines of the inference jobs: ``jobs/generate.py`` / ``lstmgan-generate`` and
``jobs/evaluate.py`` / ``lstmgan-evaluate``.

Like the training job: arguments are parsed and checked (into the options objects of
``evaluate.options``) before Ray or TensorFlow are imported, so the runners are imported
inside ``_generate``/``_evaluate``, after validation; known input errors exit with code 2
and one message (``cli.common.run_guarded``), and the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse

from lstmgan_ray.cli.common import add_version_argument, heavy_imports, print_summary, run_guarded
from lstmgan_ray.evaluate.extras import check_eval_packages
from lstmgan_ray.evaluate.options import (
    MODES,
    SPLIT_CHOICES,
    EvaluateOptions,
    GenerateOptions,
    check_out,
)


def _inference_arguments(parser: argparse.ArgumentParser, *, paths: int, out_help: str, horizon_help: str) -> None:
    """Flags both jobs share: what to read, where to write, and the Ray Data actor pool."""
    add_version_argument(parser)
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory or URI (a run's "
                                                            "checkpoint_epoch_NNNN or a sweep's best/)")
    parser.add_argument("--data", help="Parquet file, directory or URI (default: the checkpoint's data.path)")
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument("--paths", type=int, default=paths, help=f"stochastic paths per window (default {paths})")
    parser.add_argument("--horizon", type=int, help=horizon_help)
    parser.add_argument("--seed", type=int, default=0, help="base of the noise draws (default 0)")
    parser.add_argument("--batch-size", type=int, default=128, help="windows per actor call (default 128)")
    parser.add_argument("--concurrency", type=int, default=1, help="actors in the pool, each holding the generator "
                                                                   "(default 1)")
    parser.add_argument("--num-cpus", type=float, default=1.0, help="CPUs per actor (default 1)")
    parser.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per actor (default 0)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace what is in --out (only once the new output is complete)")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")


def _actor_options(args: argparse.Namespace) -> dict:
    """The options fields the flags of both jobs give (``paths`` has a different floor in each)."""
    return {"paths": args.paths, "horizon": args.horizon, "seed": args.seed, "batch_size": args.batch_size,
            "concurrency": args.concurrency, "num_cpus": args.num_cpus, "num_gpus": args.num_gpus,
            "overwrite": args.overwrite}


def generate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstmgan-generate",
        description="Stochastic forecasts or synthetic paths from a checkpoint, as Parquet, with Ray Data.")
    _inference_arguments(parser, paths=100, out_help="output directory or URI for the Parquet files",
                         horizon_help="steps per path (default: the checkpoint's output_dim; synthesize: "
                                      "to the end of the data)")
    parser.add_argument("--mode", default="forecast", choices=MODES,
                        help="forecast: every window of the split; synthesize: whole paths from each series' "
                             "first window")
    parser.add_argument("--split", default="test", choices=SPLIT_CHOICES,
                        help="test (default), train, val or all")
    return parser


def _generate(args: argparse.Namespace) -> int:
    options = GenerateOptions(mode=args.mode, split=args.split, **_actor_options(args))
    from lstmgan_ray.evaluate.inputs import open_inputs  # files and footers only: bad input fails fast

    inputs = open_inputs(args.checkpoint, args.data)
    with heavy_imports(args):
        from lstmgan_ray.evaluate.generate import run_generate  # TensorFlow loads only now

    print_summary(run_generate(args.checkpoint, args.data, args.out, options, inputs=inputs))
    return 0


def generate_main(argv: list[str] | None = None) -> int:
    """``jobs/generate.py`` and ``lstmgan-generate``."""
    return run_guarded(_generate, generate_parser().parse_args(argv))


def evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstmgan-evaluate",
        description="Forecast accuracy against baselines and synthetic-data quality of a checkpoint on the test "
                    "split: metrics.json, PNG figures and report.md.")
    _inference_arguments(parser, paths=50, out_help="local output directory for metrics.json, figures and report.md",
                         horizon_help="forecast steps per test window (default: the checkpoint's output_dim)")
    parser.add_argument("--seq-len", type=int, default=24, help="window length of the TimeGAN scores (default 24)")
    parser.add_argument("--holdout", type=float, default=0.2,
                        help="held-out tail of every path for the TimeGAN scores (default 0.2)")
    parser.add_argument("--max-lag", type=int, default=20, help="autocorrelation lags (default 20)")
    parser.add_argument("--baseline-epochs", type=int,
                        help="epochs of the supervised-only baseline (default: the checkpoint's epoch)")
    parser.add_argument("--baseline-model", help="a baseline_supervised.weights.h5 from an earlier evaluation "
                                                 "of this checkpoint, instead of training one")
    parser.add_argument("--classifier-epochs", type=int, default=40,
                        help="epochs of the post-hoc classifier and predictors (default 40)")
    parser.add_argument("--classifier-seeds", type=int, default=5,
                        help="discriminative scores are the mean and sd over this many classifier seeds (default 5)")
    parser.add_argument("--no-tsne", dest="tsne", action="store_false", help="PCA projection only")
    return parser


def _evaluate(args: argparse.Namespace) -> int:
    check_eval_packages()  # scipy, scikit-learn, matplotlib (the eval extra): named before anything is read
    check_out(args.out)
    options = EvaluateOptions(seq_len=args.seq_len, holdout=args.holdout, max_lag=args.max_lag,
                              baseline_epochs=args.baseline_epochs, baseline_model=args.baseline_model,
                              classifier_epochs=args.classifier_epochs, classifier_seeds=args.classifier_seeds,
                              tsne=args.tsne, **_actor_options(args))
    from lstmgan_ray.evaluate.inputs import open_inputs  # files and footers only: bad input fails fast

    inputs = open_inputs(args.checkpoint, args.data)
    with heavy_imports(args):
        from lstmgan_ray.evaluate.run import run_evaluate  # TensorFlow loads only now

    print_summary(run_evaluate(args.checkpoint, args.data, args.out, options, inputs=inputs))
    return 0


def evaluate_main(argv: list[str] | None = None) -> int:
    """``jobs/evaluate.py`` and ``lstmgan-evaluate``."""
    return run_guarded(_evaluate, evaluate_parser().parse_args(argv))
