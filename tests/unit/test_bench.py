"""The benchmark (``make bench``) cannot rot: a smoke run of its code with tiny networks, no timing asserted.

The job, memory and ingest sections start Ray, prepare data and train for minutes; their
pieces (output parsing, the memory sampler, the synthetic data writer, the targets) run here
on small inputs instead.
"""

import json
import math
import subprocess
import sys

from benchmarks.flops import gan_step_flops
from benchmarks.jobs import TreeSampler, parse_job_output
from benchmarks.report import format_report
from benchmarks.run import Settings, run_all, targets
from benchmarks.synthetic import write_bars
from tests.helpers import TINY_MODEL


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_smoke_run_fills_every_field():
    r = run_all(Settings.smoke_settings(), progress=lambda _msg: None)
    json.dumps(r)  # what __main__ writes

    assert _positive(r["matmul"]["numpy_gflops"]) and _positive(r["matmul"]["tensorflow_gflops"])
    (point,) = r["steps"]
    assert set(point["variants"]) == {"plain", "fast"} and _positive(point["step_gflop"])
    for name, v in point["variants"].items():
        for key in ("windows_per_s", "ms_per_step", "gflops", "first_step_s"):
            assert _positive(v[key]), (name, key)
        assert name == "plain" or _positive(v["vs_plain"])
    # The fast profile, as this machine's auto precision picks it, trains with finite losses.
    assert point["variants"]["fast"]["nonfinite"] is False
    startup = r["startup"]
    assert _positive(startup["cli_import_s"]) and _positive(startup["help_s"])
    assert not {"tensorflow", "keras", "ray"} & set(startup["cli_heavy_imports"])  # the CLI stays light

    text = format_report(r)
    assert "vs plain loop" in text and "CLI: import" in text
    assert [t["target"] for t in r["targets"]] == ["fast step vs plain loop (T=4 F=1 B=16)"]


def test_job_and_memory_pieces(tmp_path):
    """What the job and memory sections are built from, on small inputs."""
    summary = {"run_dir": "/x", "best_checkpoint": "/x/c", "metrics": {}, "epochs_reported": 2}
    out = parse_job_output([(0.5, "preparing windows from 2 file(s)"),
                            (3.0, "windows: train=70 val=15 test=16; 1 steps"), (9.0, json.dumps(summary))])
    assert out == {"summary": summary, "windows": {"train": 70, "val": 15, "test": 16}, "prepare_s": 2.5,
                   "prepare_started_s": 0.5, "windows_ready_s": 3.0}

    proc = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(50 << 20); time.sleep(1.5)"])
    sampler = TreeSampler(proc.pid, interval=0.05)
    sampler.start()
    proc.wait()
    sampler.stop()
    assert sampler.peak["driver"] > 50 and sampler.driver_tensorflow_at is None

    data = write_bars(str(tmp_path / "bars"), target_mb=0.2, features=4, rows_per_series=300)
    assert data["arrow_mb"] >= 0.2 and data["rows"] == 300 * 4 * data["files"]

    fake = {"ingest": {"prepare_windows_per_s": 100.0, "iterate_windows_per_s": 30000.0,
                       "at_scale": {"prepare_windows_per_s": 5000.0}},
            "steps": [{"point": {"input_dim": 3, "features": 6, "batch": 128}, "variants": {
                "plain": {"windows_per_s": 100.0}, "default": {"windows_per_s": 110.0, "vs_plain": 1.1},
                "fast": {"windows_per_s": 200.0, "vs_plain": 2.0}}}],
            "jobs": {"one_worker": {"windows_per_s": 95.0, "peak_rss_mb": {"driver": 400.0}},
                     "data_wait": {"fraction": 0.001}},
            "memory": {"prepare_windows_per_s": 5000.0, "dataset_vs_object_store": 3.2,
                       "peak_rss_mb": {"driver": 420.0}}}
    met = {t["target"]: t["met"] for t in targets(fake)}
    assert met["fast step vs plain loop (T=3 F=6 B=128)"] and met["one-worker jobs/train.py epoch vs plain loop"]
    assert met["ingest prepare at scale (pipeline alone) vs fastest training"] is True  # 5000 >= 10 x 200
    assert fake["memory"]["prepare_vs_consumption"] == 25.0  # reported: its store is capped to spill
    assert fake["jobs"]["one_worker_vs_plain"] == 0.95
    assert met["ingest prepare (bundled data) vs fastest training"] is None  # reported: a fixed cost
    assert met["ingest iterate (bundled data) vs fastest training"] is True


def test_flops_match_a_hand_count():
    """A tiny generator and discriminator at batch 2, window 3: every product counted by hand."""
    model = dict(TINY_MODEL)  # LSTM 8, 8; Dense 4, 1; Conv1D 4 (k3), 4 (k1); Dense 8, 8, 1; noise 2
    b, t, f = 2, 3, 5
    lstm = 2 * b * t * ((f + 2 + 8) * 4 * 8 + (8 + 8) * 4 * 8)
    g_dense = 2 * b * (8 * 4 + 4 * 1)
    # discriminator on 4 steps: stride 2 'same' -> 2 steps, then 1 step; flatten 1 x 4
    conv = 2 * b * (2 * 3 * 1 * 4 + 1 * 1 * 4 * 4)
    d_dense = 2 * b * (4 * 8 + 8 * 8 + 8 * 1)
    assert gan_step_flops(model, b, t, f) == 3 * (lstm + g_dense + 2 * (conv + d_dense))
    wide = dict(model, width_multiplier=2.0)
    assert gan_step_flops(wide, b, t, f) > gan_step_flops(model, b, t, f)
    # K draws per window: the generator and the fake half of the discriminator do K times the work.
    assert gan_step_flops(model, b, t, f, draws=4) == 3 * (4 * (lstm + g_dense) + 5 * (conv + d_dense))
