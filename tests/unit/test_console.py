"""The console: progress lines (rate, ETA, the 30 s throttle, terminal or not), the noise filter,
the environment every process of a quiet job gets."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from lstmgan_ray.console import (
    ProgressLine,
    format_duration,
    format_progress,
    is_noise,
    native_stderr_filtered,
    process_env,
)
from tests.helpers import ROOT


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_durations():
    assert [format_duration(s) for s in (0, 42.4, 65, 600, 3725)] == ["0s", "42s", "1m05s", "10m00s", "1h02m"]


def test_progress_text():
    assert (format_progress("epoch 3", "step", 120, 540, 640.2, "windows", 65)
            == "epoch 3  step 120/540  640 windows/s  ETA 1m05s")
    assert format_progress("forecast", "windows", 0, 10, None, "windows", None) == "forecast  windows 0/10"
    assert "[##########..........]" in format_progress("x", "step", 5, 10, None, "w", None, bar=True)


def test_a_line_every_30_seconds_when_not_a_terminal():
    out, clock = io.StringIO(), Clock()
    line = ProgressLine("epoch 3", 540, per_item=128, stream=out, clock=clock, tty=False)
    assert line.update(20) is None  # the rate's starting point
    clock.now += 29
    assert line.update(100) is None
    clock.now += 1  # 30 s after the start: 100 steps in 30 s, 128 windows each, 420 steps to go
    assert line.update(120) == "epoch 3  step 120/540  427 windows/s  ETA 2m06s"
    clock.now += 10
    assert line.update(200) is None
    assert out.getvalue() == "epoch 3  step 120/540  427 windows/s  ETA 2m06s\n"
    line.clear()  # nothing to erase without a terminal
    assert out.getvalue().count("\n") == 1


def test_a_redrawn_bar_on_a_terminal():
    out, clock = io.StringIO(), Clock()
    line = ProgressLine("forecast", 1000, noun="windows", stream=out, clock=clock, tty=True)
    line.update(0)
    clock.now += 0.2
    assert line.update(10) is None  # redrawn at most twice a second
    clock.now += 0.8
    text = line.update(500)
    assert text == "forecast  [##########..........]  windows 500/1000  500 windows/s  ETA 1s"
    assert out.getvalue() == "\r" + text + "\x1b[K"
    line.clear()
    assert out.getvalue().endswith("\r\x1b[K")


def test_noise_is_tensorflow_and_ray_chatter_only():
    noise = [
        "I0000 00:00:1796685595.110124   22232 port.cc:153] oneDNN custom operations are on.",
        "W0000 00:00:1796685595.111175   22232 cudart_stub.cc:31] Could not find cuda drivers",
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "2026-12-07 23:21:08,032\tWARNING __init__.py:28 -- Progress bars disabled. To enable, set "
        "`ray.data.DataContext.get_current().enable_progress_bars = True`.",
        "[2026-12-07 23:21:30,859 E 23479 23584] core_worker.cc:2465: Actor with class name: 'PreemptionWatcher' "
        "and ID: '217a' has constructor arguments in the object store and max_restarts > 0. If the",
    ]
    kept = ["E0000 00:00:1796685691.004080   24077 some_op.cc:52] a real native error",
            "WARNING: something the user must see", "Traceback (most recent call last):",
            "epoch   1  d_loss 1.3863  g_loss 1.4201"]
    assert all(is_noise(line) for line in noise)
    assert not any(is_noise(line) for line in kept)


def test_quiet_and_verbose_environments():
    quiet, verbose = process_env(False), process_env(True)
    assert quiet["TF_CPP_MIN_LOG_LEVEL"] == "3" and quiet["LSTMGAN_VERBOSE"] == "0"
    assert "TF_CPP_MIN_LOG_LEVEL" not in verbose and verbose["LSTMGAN_VERBOSE"] == "1"


def test_native_stderr_keeps_all_but_the_noise(capfd):
    with native_stderr_filtered():
        os.write(2, b"I0000 00:00:1796685595.110124   22232 port.cc:153] oneDNN custom operations are on.\n"
                    b"a real error\n")
    assert capfd.readouterr().err == "a real error\n"


def test_quiet_tensorflow_import():
    """A real TensorFlow import in a quiet job's environment leaves stderr free of start-up lines."""
    code = ("from lstmgan_ray.console import native_stderr_filtered, set_process_env\n"
            "set_process_env(False)\n"
            "with native_stderr_filtered():\n"
            "    import tensorflow as tf\n"
            "tf.config.list_physical_devices('GPU')\n")
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""
