"""What every job's command line shares: common flags, error handling and the summary line.

Arguments are parsed and the config validated before Ray or TensorFlow are
imported, so bad input fails in about a second with a message, not a traceback.
The last stdout line of every job is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from lstmgan_ray.config import anchor_paths, available_profiles
from lstmgan_ray.console import job_process_env, native_stderr_filtered
from lstmgan_ray.errors import UserError

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def package_version() -> str:
    """The installed package's version; in a checkout that is not installed (a ``ray job submit``
    working directory), the version its ``pyproject.toml`` declares."""
    try:
        return importlib.metadata.version("lstmgan-ray")
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        if pyproject.is_file():
            return tomllib.loads(pyproject.read_text()).get("project", {}).get("version", "unknown")
        return "unknown"


def add_version_argument(parser: argparse.ArgumentParser) -> None:
    """``--version``: print the package version and exit; ``--verbose``, which every job has too."""
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument("--verbose", action="store_true",
                        help="show everything TensorFlow and Ray print (their INFO lines, native logs); "
                             "default: the job's own lines, warnings and errors")


def heavy_imports(args: argparse.Namespace):
    """Around the import that loads TensorFlow: its native start-up lines dropped unless ``--verbose``."""
    return native_stderr_filtered(not getattr(args, "verbose", False))


def add_common_arguments(parser: argparse.ArgumentParser, *,
                         config_help: str = "YAML config file; its relative paths are relative to the file "
                                            "(default: the reference design)",
                         epochs_help: str = "training epochs (train.epochs)",
                         name_help: str = "run name (run.name)",
                         failures_help: str = "times a failed run restarts from its latest checkpoint, "
                                              "whatever the cause, a bug in the code too (run.max_failures, "
                                              "default 2; 0: fail at once; -1: no limit)") -> None:
    """Flags training and sweeps share: config file, data, overrides, run placement, ``--version``."""
    add_version_argument(parser)
    parser.add_argument("--config", help=config_help)
    parser.add_argument("--data", help="Parquet file, directory or URI (data.path)")
    parser.add_argument("--target", help="target column (data.target, default close)")
    parser.add_argument("--epochs", type=int, help=epochs_help)
    parser.add_argument("--storage-path", help="local directory or URI for runs (run.storage_path)")
    parser.add_argument("--name", help=name_help)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config key; YAML-typed value; repeatable")
    parser.add_argument("--max-failures", type=int, metavar="N", help=failures_help)
    parser.add_argument("--print-config", action="store_true",
                        help="print the effective config (profile, file, --set and flags applied) as YAML and "
                             "exit, without starting Ray")
    parser.add_argument("--profile", default="auto", choices=available_profiles(),
                        help="named preset laid under --config/--set/flags: "
                        "'cpu' = the design's LSTMs at a quarter width; 'design' = the full design; 'fast' = "
                        "no recurrent dropout (cuDNN on GPUs), mixed precision, XLA on GPUs, sqrt learning-rate "
                        "scaling (lstmgan_ray/config/profiles/); default 'auto': cpu, or design with --use-gpu")
    parser.add_argument("--tracking", choices=["none", "mlflow"],
                        help="experiment tracking (run.tracking): mlflow logs the config, every epoch's metrics "
                             "and the best checkpoint; needs pip install \"lstmgan-ray[mlflow]\"")
    parser.add_argument("--tracking-uri", metavar="URI",
                        help="MLflow tracking URI (run.tracking_uri; implies --tracking mlflow); default: "
                             "MLFLOW_TRACKING_URI, else MLflow's own default")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")


def worker_count(text: str) -> int | list[int]:
    """``--num-workers 2`` or ``--num-workers 1-4`` (elastic: at least 1, at most 4)."""
    low, sep, high = text.partition("-")
    try:
        return [int(low), int(high)] if sep else int(low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a count (2) or a range (1-4)") from None


def common_flags(args: argparse.Namespace) -> dict:
    tracking = args.tracking or ("mlflow" if args.tracking_uri else None)
    return {"data.path": args.data, "data.target": args.target, "train.epochs": args.epochs,
            "run.storage_path": args.storage_path, "run.name": args.name, "run.max_failures": args.max_failures,
            "run.tracking": tracking, "run.tracking_uri": args.tracking_uri}


def run_guarded(main: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run ``main``; known input errors become one stderr message and exit code 2.

    The job's console environment (``console.process_env``: quiet unless ``--verbose``) is set
    first, before TensorFlow or Ray load, and put back when the job returns.
    """
    with job_process_env(getattr(args, "verbose", False)):
        return _run(main, args)


def _run(main: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return main(args)
    except UserError as err:
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


def add_resume_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--resume`` / ``--overwrite``: what to do with something already at STORAGE_PATH/NAME."""
    parser.add_argument("--resume", action="store_true", help=f"continue {what}")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace what is at STORAGE_PATH/NAME: it is set aside when the new job starts, "
                             "deleted when it succeeded and put back when it failed")


def disconnect_ray() -> None:
    """Leave Ray before the summary: worker logs forwarded late would otherwise follow it in
    `ray job logs`, and its last line must be the JSON object."""
    if "ray" in sys.modules:  # a job that failed before Ray loaded has nothing to leave
        import ray

        ray.shutdown()


class _Dumper(yaml.SafeDumper):
    """Block mappings, one key a line; lists on one line (``[0.7, 0.15, 0.15]``)."""


_Dumper.add_representer(list, lambda dumper, value: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", value, flow_style=True))


def print_yaml(settings: dict[str, Any], comment: str = "") -> None:
    """``--print-config``: the effective settings as YAML (a ``# comment`` line first), local paths
    made absolute as the job resolves them, so the output is valid as a ``--config`` file anywhere."""
    settings = anchor_paths(settings, os.getcwd())
    if comment:
        print(f"# {comment}")
    print(yaml.dump(settings, Dumper=_Dumper, sort_keys=False, default_flow_style=False), end="", flush=True)


def print_summary(summary: dict) -> None:
    """The job's last stdout line: one JSON object (users' scripts parse it)."""
    print(json.dumps(summary, default=float), flush=True)
