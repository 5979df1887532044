"""Failures a run survives, on real Ray: a training worker process killed, a spot preemption
notice, a node joining an elastic run and a node lost.

Nothing may be lost: every epoch is reported exactly once, the last checkpoint loads, and
where the restart resumes exactly (same worker count), the weights equal an unbroken run's:
the session's shared ``trained`` run, which these runs repeat with the same config.
Mid-run events wait on what the run shows (the per-step markers of the STEP_MARKER_ENV test
hook, checkpoint directories), never on fixed sleeps.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from lstmgan_ray.checkpoint import load_checkpoint
from lstmgan_ray.config import Config, ConfigError, load_config
from lstmgan_ray.progress import read_history
from lstmgan_ray.train import STEP_MARKER_ENV, run_training

from conftest import trained_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _weights(ckpt_dir):
    loaded = load_checkpoint(ckpt_dir)
    return [w.numpy() for w in loaded.generator.weights + loaded.discriminator.weights]


def assert_same_weights(ckpt_a, ckpt_b):
    for wa, wb in zip(_weights(ckpt_a), _weights(ckpt_b), strict=True):
        np.testing.assert_allclose(wb, wa, rtol=1e-5, atol=1e-6)


def wait_for(condition, what, timeout=600.0, proc=None):
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the job exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def marker(markers, rank=0):
    """The last step marker a worker of this rank wrote (see train.STEP_MARKER_ENV)."""
    try:
        with open(os.path.join(markers, f"rank{rank}.json")) as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def in_epoch(markers, epoch, min_step=1, world=None, rank=0):
    m = marker(markers, rank)
    if m and m["epoch"] == epoch and m["step"] >= min_step and world in (None, m["world"]):
        return m
    return None


# -- config: elastic workers keep the global batch --------------------------------

def test_num_workers_is_an_int_or_a_range():
    assert load_config(None, ["run.num_workers=2"]).run.num_workers == 2
    elastic = load_config(None, ["run.num_workers=[1, 4]", "train.batch_size=96"]).run
    assert elastic.elastic and (elastic.min_workers, elastic.max_workers) == (1, 4)
    assert load_config(None, **{"run.num_workers": "1-2"}).run.num_workers == (1, 2)
    assert Config.from_dict(load_config(None, ["run.num_workers=[1,2]"]).to_dict()).run.num_workers == (1, 2)
    # Every count in the range must split the global batch: 3 workers cannot split 64.
    with pytest.raises(ConfigError, match=r"not divisible by 3 worker\(s\), which run.num_workers=\[2, 4\]"):
        load_config(None, ["run.num_workers=[2,4]", "train.batch_size=64"])
    with pytest.raises(ConfigError, match="min <= max"):
        load_config(None, ["run.num_workers=[2,1]"])


# -- 1. a worker process killed mid-epoch -----------------------------------------

def test_killed_worker_process_resumes_from_latest_checkpoint(trained, tmp_path, monkeypatch):
    """SIGKILL the worker in epoch 2: Ray Train restarts it (run.max_failures) from the epoch-1
    checkpoint, epoch 2 is trained again from its start, and the run ends as the unbroken one."""
    markers = tmp_path / "markers"
    monkeypatch.setenv(STEP_MARKER_ENV, str(markers))
    cfg = trained_config(trained.data, str(tmp_path / "runs"), name="killed")
    cfg["run"]["max_failures"] = 1
    run_dir = str(tmp_path / "runs" / "killed")
    killed, errors = {}, []

    def kill_in_epoch_2():
        try:
            wait_for(lambda: in_epoch(markers, 2, min_step=3), "epoch 2 in progress")
            (markers / "pause").touch()  # hold the worker mid-epoch while Ray Train takes in
            # epoch 1's report: one still queued on the worker would die with it.
            wait_for(lambda: [h["epoch"] for h in read_history(run_dir)] == [1], "epoch 1 reported")
            m = marker(markers)
            os.kill(m["pid"], signal.SIGKILL)
            killed.update(m)
            (markers / "pause").unlink()
        except Exception as err:  # surfaced in the test thread below
            errors.append(err)

    killer = threading.Thread(target=kill_in_epoch_2, daemon=True)
    killer.start()
    outcome = run_training(Config.from_dict(cfg), verbose=False)
    killer.join(timeout=10)
    assert not errors, errors
    assert 3 <= killed["step"] < killed["steps"], killed  # killed mid-epoch
    after = marker(markers)
    assert after["pid"] != killed["pid"] and after["resumed_from"] == [1, 0]
    assert [h["epoch"] for h in outcome.history] == [1, 2, 3]
    assert [h["workers"] for h in outcome.history] == [1, 1, 1]
    for a, b in zip(trained.history, outcome.history, strict=True):
        for key in ("d_loss", "g_loss", "val_rmse"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), (b["epoch"], key)
    last = os.path.join(outcome.run_dir, "checkpoint_epoch_0003")
    assert_same_weights(os.path.join(trained.run_dir, "checkpoint_epoch_0003"), last)


# -- 2-4. a cluster: spot preemption, a node joining, a node lost ----------------------

NODE_CPUS = 3  # a worker asks for 2 CPUs: one training worker per node, a CPU left for Ray Data
JOB_ENV = {
    "RAY_TRAIN_PREEMPTION_POLL_INTERVAL_S": "0.5",  # how often Ray Train looks for drained nodes
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5",     # how often the controller polls its workers
    "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "20",  # retry sooner when a stale view sizes a group wrong
}


@pytest.fixture(scope="module")
def cluster():
    """A multi-node Ray cluster on this machine: a head of 1 CPU (drivers and their Ray Data
    work; too small for a training worker) to which the test adds and removes worker nodes."""
    from ray._common.utils import reset_ray_address
    from ray._private.utils import read_ray_address, write_ray_address
    from ray.cluster_utils import Cluster

    previous = read_ray_address()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    # Cluster records itself as the machine's current Ray; put back whatever was there.
    reset_ray_address() if previous is None else write_ray_address(previous)
    yield cluster
    for node in list(cluster.worker_nodes):
        cluster.remove_node(node)
    cluster.remove_node(cluster.head_node)


def add_node(cluster):
    return cluster.add_node(num_cpus=NODE_CPUS)


def remove_node(cluster, node_id):
    cluster.remove_node(next(n for n in cluster.worker_nodes if n.node_id == node_id))


def drain_for_preemption(cluster, node_id, deadline_s):
    """What the autoscaler does on a spot interruption notice: drain the node through the GCS,
    with the time it will be reclaimed (as ``ray drain-node --reason DRAIN_NODE_REASON_PREEMPTION``)."""
    import ray._raylet
    from ray.core.generated import autoscaler_pb2

    accepted, why = ray._raylet.GcsClient(address=cluster.address).drain_node(
        node_id, autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION"),
        "spot interruption (test)", int((time.time() + deadline_s) * 1000))
    assert accepted, why


def latest_checkpoint(run_dir):
    """The checkpoint Ray Train would resume from now: its checkpoint manager's latest."""
    try:
        with open(os.path.join(run_dir, "checkpoint_manager_snapshot.json")) as fh:
            latest = json.load(fh).get("latest_checkpoint_result") or {}
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return latest.get("checkpoint_dir_name")


def start_job(cluster, cfg, tmp_path, markers):
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = open(tmp_path / "job.log", "w")
    env = {**os.environ, **JOB_ENV, "RAY_ADDRESS": cluster.address, STEP_MARKER_ENV: str(markers),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "jobs", "train.py"), "--config", str(path)],
                            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def test_cluster_run_survives_preemption_a_joining_node_and_a_lost_node(cluster, trained, tmp_path):
    """One elastic run (1 to 2 workers) of the shared run's config on a 2-node cluster:

    1. spot preemption: in epoch 2 the only worker's node is drained with a deadline; the
       worker writes a just-in-time checkpoint mid-epoch, the node goes, a new one comes, and
       the run resumes at that step: its epoch-2 weights equal the unbroken run's;
    2. elastic growth: in epoch 3 a node joins and the run grows to 2 workers, same global batch;
    3. node loss: one of the two worker nodes dies without notice mid-epoch 3; with a
       replacement node the run goes on and finishes.
    Every epoch is reported once, with the workers that trained it.
    """
    markers, run_dir = tmp_path / "markers", tmp_path / "runs" / "cluster"
    pause = markers / "pause"
    cfg = trained_config(trained.data, str(tmp_path / "runs"), name="cluster")
    cfg["train"]["epochs"] = 4
    cfg["run"].update(num_workers=[1, 2], cpus_per_worker=2, max_failures=3, keep_checkpoints=10,
                      preemption_check_steps=1, elastic_resize_interval_s=1)
    first = add_node(cluster)
    proc = start_job(cluster, cfg, tmp_path, markers)
    try:
        # 1. The spot node's notice arrives in epoch 2; workers pause until it reaches them.
        m = wait_for(lambda: in_epoch(markers, 2, min_step=2), "epoch 2 in progress", proc=proc)
        assert m["node_id"] == first.node_id and m["world"] == 1
        markers.joinpath("pause").touch()
        drain_for_preemption(cluster, m["node_id"], deadline_s=120)
        jit = wait_for(lambda: (c := latest_checkpoint(run_dir)) and c.startswith("checkpoint_preempt") and c,
                       "the just-in-time checkpoint", proc=proc)
        pause.unlink()
        remove_node(cluster, m["node_id"])  # reclaimed...
        add_node(cluster)                     # ...and replaced
        # 2. Epoch 3 runs on the replacement; a second node joins.
        m = wait_for(lambda: in_epoch(markers, 3, world=1), "epoch 3 on one worker", proc=proc)
        pause.touch()
        add_node(cluster)
        wait_for(lambda: in_epoch(markers, 3, world=2, rank=0) and in_epoch(markers, 3, world=2, rank=1),
                 "the run grown to 2 workers", proc=proc)
        # 3. A replacement is up before one of the two nodes is lost mid-epoch.
        add_node(cluster)
        remove_node(cluster, marker(markers, 1)["node_id"])
        pause.unlink()
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "job.log").read_text()
    assert proc.returncode == 0, log[-5000:]
    summary = json.loads(log.strip().splitlines()[-1])

    history = pd.read_csv(run_dir / "metrics.csv")
    assert list(history["epoch"]) == [1, 2, 3, 4]
    assert list(history["workers"]) == [1, 1, 2, 2]
    assert "jit_step" not in history.columns and summary["epochs_reported"] == 4
    step = int(jit.rsplit("_", 1)[1])
    assert f"resuming in epoch 2 at step {step} of {m['steps']}" in log
    # Resumed mid-epoch on the same worker count: epoch 2 ends exactly as in the unbroken run.
    assert_same_weights(os.path.join(trained.run_dir, "checkpoint_epoch_0002"),
                        run_dir / "checkpoint_epoch_0002")
    assert history["d_loss"][1] == pytest.approx(trained.history[1]["d_loss"], rel=1e-5)
    load_checkpoint(str(run_dir / "checkpoint_epoch_0004"))
    assert summary["best_checkpoint"].startswith(str(run_dir))
