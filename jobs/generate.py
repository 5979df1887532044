"""Forecasts and synthetic paths from a checkpoint: `python jobs/generate.py --help`
(also `ray job submit -- python jobs/generate.py ...`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lstmgan_ray.cli import generate_main

if __name__ == "__main__":
    sys.exit(generate_main())
