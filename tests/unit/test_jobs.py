"""The job CLIs as users run them (a subprocess): bad input is refused before Ray starts."""

import os

from tests.helpers import run_job


def test_train_cli_rejects_bad_override_fast_without_traceback(tmp_path):
    proc = run_job("train.py", "--set", "train.batchsize=3", "--storage-path", str(tmp_path))
    assert proc.returncode == 2
    assert "did you mean 'batch_size'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.listdir(tmp_path)


def test_tune_cli_rejects_missing_data_before_ray_loads(tmp_path):
    proc = run_job("tune.py", "--data", str(tmp_path / "nope"), "--storage-path", str(tmp_path / "runs"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no such file or directory" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()
