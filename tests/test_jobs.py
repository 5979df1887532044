"""The job CLIs end to end, as users run them: a subprocess, its own local Ray, real Parquet."""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_SETS = ["model.generator_units=[8,8]", "model.generator_dense=[4]", "model.noise_dim=2",
             "model.discriminator_filters=[4,4]", "model.discriminator_kernels=[3,1]",
             "model.discriminator_dense=[8,8]", "data.input_dim=4", "run.max_failures=0"]


def run_job(script, *args, timeout=600, env=None):
    cmd = [sys.executable, os.path.join(ROOT, "jobs", script), *args]
    full_env = {**os.environ, "RAY_ADDRESS": "", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=full_env)
    proc.elapsed = time.perf_counter() - started
    return proc


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_train_cli_rejects_bad_override_fast_without_traceback(tmp_path):
    proc = run_job("train.py", "--set", "train.batchsize=3", "--storage-path", str(tmp_path))
    assert proc.returncode == 2
    assert "did you mean 'batch_size'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.listdir(tmp_path)
