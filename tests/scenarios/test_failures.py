"""Failures a run survives on a multi-node cluster: node loss, elastic growth, spot preemption.

One run on a real ``ray.cluster_utils.Cluster`` (a CPU-less head and one-CPU worker nodes) in a
process of its own (``cluster_failures_run.py``), which removes, adds and drains nodes at
known steps and reports what happened. A killed worker is tested in ``test_train.py``.
"""

import json
import os
import subprocess
import sys

from lstmgan_ray.console import VERBOSE_VAR
from lstmgan_ray.train.checkpoint import load_checkpoint
from tests.helpers import write_dataset

HERE = os.path.dirname(os.path.abspath(__file__))


def test_node_loss_elastic_growth_and_preemption_on_a_multi_node_cluster(tmp_path, bars_frames):
    data = write_dataset(tmp_path / "bars", bars_frames[:2], files=2)
    # Verbose: the scenario waits for Ray Train's own INFO line about the preemption notice in the
    # workers' log files, which a quiet job turns off.
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", ""), VERBOSE_VAR: "1"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, os.path.join(HERE, "cluster_failures_run.py"), data, str(tmp_path)],
                          capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    print("\n".join(line for line in proc.stdout.splitlines() if line.startswith("[scenario]")))
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    paused = [e for e in record["events"] if e["event"] == "paused"]

    # Two workers, one per worker node; after B is lost, one on A; C joins and the run grows to it.
    assert paused[0]["world"] == 2 and paused[0]["nodes"] == ["A", "B"]
    assert paused[1]["world"] == 1 and paused[1]["nodes"] == ["A"]
    assert paused[2]["world"] == 2 and paused[2]["nodes"] == ["A", "C"]
    # The preemption notice made the workers checkpoint mid-epoch; after the deadline the run
    # went on without C, from that checkpoint (the restart line names it).
    drained = next(e for e in record["events"] if e["event"] == "node C drained")
    assert drained["accepted"], drained
    assert paused[3]["jit"] == ["checkpoint_preempt_epoch_0002_step_0002"]
    assert paused[4]["world"] == 1 and paused[4]["nodes"] == ["A"] and paused[4]["after_deadline"]
    assert "resuming after step 2 of epoch 2 from" in proc.stdout
    assert "checkpoint_preempt_epoch_0002_step_0002 on 1 worker(s)" in proc.stdout

    # Nothing lost: every epoch reported once, with the worker count it finished on, and the
    # global batch fixed; the final checkpoint loads.
    history = record["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert [h["workers"] for h in history][1:] == [1, 1]
    assert all(h["val_windows"] == history[0]["val_windows"] for h in history)
    final = os.path.join(record["run_dir"], "checkpoint_epoch_0003")
    assert load_checkpoint(final).state["epoch"] == 3
