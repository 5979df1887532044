"""Evaluate a checkpoint against baselines: `python jobs/evaluate.py --help`
(also `ray job submit -- python jobs/evaluate.py ...`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lstmgan_ray.cli import evaluate_main

if __name__ == "__main__":
    sys.exit(evaluate_main())
