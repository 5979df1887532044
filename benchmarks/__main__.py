"""``python -m benchmarks`` (``make bench``): run the benchmark, print its tables, write its JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys

from benchmarks.jobs import ROOT
from benchmarks.report import format_report
from benchmarks.run import SECTIONS, Settings, run_all
from benchmarks.steps import EXTRA_VARIANTS, VARIANTS, Point
from benchmarks.targets import targets


def parse_point(text: str) -> Point:
    try:
        t, f, b = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WINDOWxFEATURESxBATCH, e.g. 3x6x128") from None
    return Point(t, f, b)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "latest.json"),
                        help="where to write the JSON (default benchmarks/results/latest.json)")
    parser.add_argument("--sections", help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--points", type=parse_point, nargs="+",
                        help="WINDOWxFEATURESxBATCH ...; the first is also the shape of the job runs")
    parser.add_argument("--variants", help=f"comma-separated, from {','.join(VARIANTS + tuple(EXTRA_VARIANTS))}")
    parser.add_argument("--rounds", type=int, help="timing rounds (the variants take turns)")
    parser.add_argument("--smoke", action="store_true", help="tiny networks and data, no job runs: seconds")
    parser.add_argument("--report", metavar="JSON", help="print the report of a saved run (targets judged again) "
                                                         "instead of running")
    return parser


def settings_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Settings:
    """The run's settings: the defaults (or the smoke run's) with the command line's overrides."""
    overrides = {}
    if args.sections:
        overrides["sections"] = tuple(x.strip() for x in args.sections.split(",") if x.strip())
        if not set(overrides["sections"]) <= set(SECTIONS):
            parser.error(f"--sections: use {', '.join(SECTIONS)}")
    if args.variants:
        overrides["variants"] = tuple(x.strip() for x in args.variants.split(",") if x.strip())
        overrides["first_point_extra"] = ()
        if not set(overrides["variants"]) <= set(VARIANTS) | set(EXTRA_VARIANTS):
            parser.error(f"--variants: use {', '.join(VARIANTS + tuple(EXTRA_VARIANTS))}")
    if args.points:
        overrides["points"] = tuple(args.points)
    if args.rounds:
        overrides["rounds"] = args.rounds
    return Settings.smoke_settings(**overrides) if args.smoke else Settings(**overrides)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.report:
        with open(args.report) as fh:
            result = json.load(fh)
        result["targets"] = targets(result)
        print(format_report(result))
        return 0

    settings = settings_from(args, parser)
    result = run_all(settings, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1, default=float)
    print(format_report(result))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
