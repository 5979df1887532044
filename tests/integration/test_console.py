"""The console of a real training run: the job's own lines only, no actor prefixes, the JSON line last."""

from __future__ import annotations

import re

from tests.helpers import SETS, last_json, run_job


def test_quiet_console_of_a_tiny_run(bars_dir, tmp_path, ray_address):
    proc = run_job("train.py", "--data", bars_dir, *SETS, "--batch-size", "16", "--epochs", "2",
                   "--storage-path", str(tmp_path / "runs"), "--name", "quiet", timeout=400,
                   env={"RAY_ADDRESS": ray_address})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out, both = proc.stdout, proc.stdout + proc.stderr
    assert re.search(r"^data: .*\(\d+ file\(s\), \d+ rows", out, re.M), out
    assert re.search(r"^series: \d+; windows: train=\d+ val=\d+ test=\d+; \d+ steps/epoch of 16$", out, re.M), out
    assert re.search(r"^workers: 1 x 1 CPU; run directory: .*quiet$", out, re.M), out
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1", "2"], out
    for noise in ("E0000", "cuInit", "I0000", "TrainingReport(", "absl::InitializeLog", "coordination_service",
                  "Progress bars disabled"):
        assert noise not in both, (noise, both[-3000:])
    # Ray's warnings keep their process prefix; the job's own lines never carry one.
    assert not [line for line in both.splitlines() if "pid=" in line and ("d_loss" in line or "windows" in line)]
    assert last_json(out)["epochs_reported"] == 2
