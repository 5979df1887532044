"""A training run on a multi-node Ray cluster on this machine, through node loss, elastic growth
and spot preemption; run by ``test_failures.py`` in a process of its own.

Its own process because ``ray.cluster_utils.Cluster`` keeps GCS clients that kill the process
hosting them once their head is gone, and because the nodes must start with the environment
set here (a fast preemption poll). Usage: ``python cluster_failures_run.py DATA WORKDIR``; the
last stdout line is a JSON record of what happened, for the test to judge.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import threading
import time

os.environ["RAY_TRAIN_PREEMPTION_POLL_INTERVAL_S"] = "0.2"
# After a node is lost, Ray Train first waits this long for a group as large as before (60 s by
# default) before it starts a smaller one. Placing a group on nodes that are up takes well under
# a second, so 5 s only shortens the wait for nodes that are gone.
os.environ["RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"] = "5"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from lstmgan_ray.train.fault_points import PAUSE_AT_ENV, PAUSE_DIR_ENV, hold_name, marker_name  # noqa: E402

TIMEOUT_S = 240.0


class Scenario:
    def __init__(self, workdir: str):
        self.pause = os.path.join(workdir, "pause")
        os.makedirs(self.pause, exist_ok=True)
        self.record: dict = {"events": []}
        self.outcome = None
        self.error = None

    def note(self, event: str, **facts) -> None:
        self.record["events"].append({"event": event, "t": round(time.time(), 2), **facts})
        print(f"[scenario] {event} {facts}", flush=True)

    def wait(self, what: str, condition):
        """Poll ``condition`` until it returns something truthy; fail if training ended first."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            value = condition()
            if value:
                return value
            if self.outcome is not None or self.error is not None:
                raise RuntimeError(f"training ended while waiting for {what}: {self.error!r}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} after {TIMEOUT_S:.0f} s")
            time.sleep(0.1)

    def markers(self, epoch: int, step: int, ranks: int) -> list[dict] | None:
        """The pause markers of ranks 0..ranks-1 at (epoch, step), once all are there."""
        found = []
        for rank in range(ranks):
            path = os.path.join(self.pause, marker_name(rank, epoch, step))
            if not os.path.exists(path):
                return None
            with open(path) as fh:
                found.append(json.load(fh))
        return found

    def clear_markers(self) -> None:
        for path in glob.glob(os.path.join(self.pause, "rank*.json")):
            os.remove(path)

    def hold(self, epoch: int, step: int, on: bool) -> None:
        path = os.path.join(self.pause, hold_name(epoch, step))
        if on:
            open(path, "w").close()
        elif os.path.exists(path):
            os.remove(path)


def worker_log_says(session_dir: str, text: str) -> bool:
    for path in glob.glob(os.path.join(session_dir, "logs", "train", "*worker*.log")):
        with open(path, errors="replace") as fh:
            if text in fh.read():
                return True
    return False


def node_alive(node_id: str) -> bool:
    import ray

    return any(n["NodeID"] == node_id and n["Alive"] for n in ray.nodes())


def refresh_resource_view(scenario: Scenario, node_id: str, alive: bool) -> None:
    """Once the GCS sees ``node_id`` alive (joined) or dead (lost), have Ray's AutoscalingCoordinator
    (which Ray Train's elastic policy asks how many workers fit) re-read the cluster now rather
    than at its next 20-second tick. Until then Ray Train keeps trying the old group size (each
    attempt ending after RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S), or does not see the new node:
    this moves the test's clock, not what happens.
    """
    import ray

    scenario.wait(f"node {node_id[:8]} {'alive' if alive else 'declared dead'}",
                  lambda: node_alive(node_id) == alive)
    coordinator = ray.get_actor("AutoscalingCoordinator", namespace="AutoscalingCoordinator")
    ray.get(coordinator.get_reserved_resources.remote("lstmgan-test-harness", recompute=True))


def main(data: str, workdir: str) -> None:
    import ray
    from ray.cluster_utils import Cluster
    from ray.core.generated import autoscaler_pb2

    from lstmgan_ray.config import Config
    from lstmgan_ray.train.driver import run_training

    scenario = Scenario(workdir)
    os.environ[PAUSE_DIR_ENV] = scenario.pause
    os.environ[PAUSE_AT_ENV] = "2:2,2:4"
    scenario.hold(2, 2, True)

    # Like cluster.yaml: a head that runs no training, one-CPU worker nodes for one worker each.
    # The GCS checks every node each second and declares it dead after five failed checks in a
    # row (Ray's defaults, 3 s and 5, take 15 s or more): a lost node is noticed in seconds, and
    # a busy node still has five seconds to answer.
    health = {"health_check_period_ms": 1000, "health_check_timeout_ms": 3000, "health_check_failure_threshold": 5}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                            "_system_config": health})
    node_a = cluster.add_node(num_cpus=1)
    node_b = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=True)
    session_dir = cluster.head_node.get_session_dir_path()
    name = {node_a.node_id: "A", node_b.node_id: "B"}

    cfg = Config.from_dict({
        "data": {"path": data, "input_dim": 4, "output_dim": 1},
        "model": {"generator_units": [8, 8], "generator_dense": [4], "noise_dim": 0, "recurrent_dropout": 0.0,
                  "discriminator_filters": [4, 4], "discriminator_kernels": [3, 1], "discriminator_dense": [8, 8]},
        "train": {"epochs": 3, "batch_size": 8, "shuffle_buffer": 0},
        "run": {"storage_path": os.path.join(workdir, "runs"), "name": "cluster", "num_workers": [1, 2],
                "max_failures": 3, "keep_checkpoints": 4, "preemption_check_steps": 1,
                "elastic_resize_interval_s": 2.0, "resource_timeout_s": 60},
    })

    def train():
        try:
            scenario.outcome = run_training(cfg, verbose=True)
        except BaseException as err:  # reported through the record
            scenario.error = err

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    try:
        # 1. Two workers, one per node, paused two steps into epoch 2.
        two = scenario.wait("two workers at epoch 2 step 2", lambda: scenario.markers(2, 2, 2))
        scenario.note("paused", world=two[0]["world"], nodes=sorted(name.get(m["node_id"], "?") for m in two))

        # 2. Node loss: B goes away without warning. Ray Train restarts on what is left.
        scenario.clear_markers()
        cluster.remove_node(node_b, allow_graceful=False)
        scenario.note("node B removed")
        refresh_resource_view(scenario, node_b.node_id, alive=False)
        one = scenario.wait("one worker back at epoch 2 step 2", lambda: scenario.markers(2, 2, 1))
        scenario.note("paused", world=one[0]["world"], nodes=[name.get(one[0]["node_id"], "?")])

        # 3. Elastic growth: node C joins; the run grows to it at its next restart.
        scenario.clear_markers()
        node_c = cluster.add_node(num_cpus=1)
        name[node_c.node_id] = "C"
        scenario.note("node C added")
        refresh_resource_view(scenario, node_c.node_id, alive=True)
        grown = scenario.wait("two workers after C joined", lambda: (
            (m := scenario.markers(2, 2, 2)) and m[0]["world"] == 2 and m))
        scenario.note("paused", world=grown[0]["world"], nodes=sorted(name.get(m["node_id"], "?") for m in grown))

        # 4. Spot preemption: C is drained with a deadline, as a cloud's reclaim notice does.
        scenario.clear_markers()
        scenario.hold(2, 4, True)
        deadline_ms = int((time.time() + 6) * 1000)
        gcs = ray._raylet.GcsClient(address=cluster.gcs_address)
        accepted, rejection = gcs.drain_node(
            node_c.node_id, autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION"),
            "spot reclaim (test)", deadline_ms)
        scenario.note("node C drained", accepted=bool(accepted), rejection=rejection)
        scenario.wait("the workers' preemption notice",
                      lambda: worker_log_says(session_dir, "received preemption signal"))
        scenario.hold(2, 2, False)
        at_four = scenario.wait("both workers past the just-in-time checkpoint", lambda: scenario.markers(2, 4, 2))
        jit = sorted(os.path.basename(p) for p in glob.glob(os.path.join(cfg.run.storage_path, "cluster",
                                                                          "checkpoint_preempt_*")))
        scenario.note("paused", world=at_four[0]["world"], jit=jit)

        # At the deadline the cloud takes the node; Ray Train restarts without it.
        scenario.clear_markers()
        time.sleep(max(0.0, deadline_ms / 1000 - time.time()))  # the cloud's clock, not a wait for Ray
        cluster.remove_node(node_c, allow_graceful=False)
        scenario.note("node C reclaimed at the deadline")
        refresh_resource_view(scenario, node_c.node_id, alive=False)
        after = scenario.wait("a worker restarted after the deadline", lambda: scenario.markers(2, 4, 1))
        scenario.note("paused", world=after[0]["world"], nodes=[name.get(after[0]["node_id"], "?")],
                      after_deadline=time.time() * 1000 >= deadline_ms)
        scenario.hold(2, 4, False)
        scenario.note("released")
        thread.join(TIMEOUT_S)
    finally:
        for epoch, step in ((2, 2), (2, 4)):
            scenario.hold(epoch, step, False)
        thread.join(60)

    if scenario.error is not None:
        raise scenario.error
    outcome = scenario.outcome
    scenario.record.update(history=outcome.history, best_checkpoint=outcome.best_checkpoint,
                           run_dir=outcome.run_dir,
                           checkpoints=sorted(os.listdir(outcome.run_dir)))
    ray.shutdown()
    cluster.shutdown()
    print(json.dumps(scenario.record, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
