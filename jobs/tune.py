"""Sweep hyperparameters with Ray Tune: `python jobs/tune.py --help` (also through `ray job submit`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lstmgan_ray.cli import tune_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(tune_main())
