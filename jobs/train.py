"""Train the LSTM-GAN: `python jobs/train.py --help` (also `ray job submit -- python jobs/train.py ...`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lstmgan_ray.cli import train_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(train_main())
