"""Command lines: each job's argument parsing and one call into the package function that runs it.

Arguments are parsed and the config validated before Ray or TensorFlow load, so bad input fails
in about a second with a message, not a traceback; the heavy modules are imported inside each
job's function here and nowhere else. The last stdout line of every job is one JSON object.
"""

from lstmgan_ray.cli.inference import evaluate_main, generate_main
from lstmgan_ray.cli.train import train_main
from lstmgan_ray.cli.tune import tune_main

__all__ = ["evaluate_main", "generate_main", "train_main", "tune_main"]
