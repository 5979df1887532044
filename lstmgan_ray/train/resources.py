"""Can the cluster ever hold the run's workers? Checked on the driver before any data work.

Ray waits forever for resources nobody can provide: a GPU asked of a CPU-only cluster leaves
the job pending, and Ray Train retries its worker-group start on every timeout. So the driver
compares one worker's bundle with every node that exists and every node type an autoscaler can
launch. A request no node can hold fails at once; one that only launchable nodes can hold is
waited for, at most ``run.resource_timeout_s``; either failure names what was asked and what
the cluster has.

Where the launchable node types come from (Ray 2.60 has no single API for it):
- the autoscaler state in the GCS (``ClusterConfig``), which autoscalers that report it fill in;
- the cluster launcher's ``~/ray_bootstrap_config.yaml`` on the head, which `ray up` writes and
  its autoscaler reads (job drivers run on the head; Ray Tune tests for the same file).
Neither present: no autoscaler, only the nodes that are there.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import ray
import yaml
from ray.util.placement_group import placement_group, remove_placement_group

from lstmgan_ray.errors import ConfigError

BOOTSTRAP_CONFIG = "~/ray_bootstrap_config.yaml"
UNBOUNDED = 1 << 30


class ResourceError(ConfigError):
    """The cluster cannot hold the requested workers now, or could not within the bound."""


@dataclass(frozen=True)
class NodeShape:
    """Nodes of one shape: ``count`` that exist, or at most ``count`` an autoscaler can launch."""

    name: str
    resources: dict[str, float]
    count: int


def worker_bundle(run) -> dict[str, float]:
    """One Ray Train worker's resources, as ``make_trainer`` asks for them."""
    return {"CPU": run.cpus_per_worker, **({"GPU": run.gpus_per_worker} if run.use_gpu else {})}


def per_node(resources: dict[str, float], bundle: dict[str, float]) -> int:
    """How many bundles one node of ``resources`` holds (bundles never span nodes)."""
    if not resources:  # a node type whose resources are not declared: assume it fits one
        return 1
    counts = [math.floor(resources.get(k, 0.0) / v + 1e-9) for k, v in bundle.items() if v > 0]
    return min(counts) if counts else 1


def capacity(shapes: list[NodeShape], bundle: dict[str, float], max_nodes: int | None = None) -> int:
    """Bundles the nodes hold; with ``max_nodes``, using at most that many nodes (the autoscaler's
    ceiling over all its node types), the roomiest first."""
    if max_nodes is None:
        return sum(per_node(s.resources, bundle) * s.count for s in shapes)
    total = 0
    for shape in sorted(shapes, key=lambda s: per_node(s.resources, bundle), reverse=True):
        used = min(shape.count, max_nodes)
        total += used * per_node(shape.resources, bundle)
        max_nodes -= used
    return total


@dataclass(frozen=True)
class Autoscaler:
    """What an autoscaler can add: its node types, and at most ``max_nodes`` nodes in all."""

    types: list[NodeShape]
    max_nodes: int


def existing_nodes() -> list[NodeShape]:
    """The alive nodes and their total resources (busy or not: busy frees up, absent never does)."""
    shapes = []
    for node in ray.nodes():
        if node.get("Alive"):
            resources = {k: float(v) for k, v in node.get("Resources", {}).items()}
            shapes.append(NodeShape(node.get("NodeManagerAddress", "?"), resources, 1))
    return shapes


def find_autoscaler(bootstrap_config: str = BOOTSTRAP_CONFIG) -> Autoscaler | None:
    """The node types an autoscaler can add, with their ceilings; None when no autoscaler is known."""
    found = _from_gcs_cluster_config()
    if found is None:
        found = autoscaler_from_launcher_config(os.path.expanduser(bootstrap_config))
    return found


def _from_gcs_cluster_config() -> Autoscaler | None:
    try:  # private Ray API (no public one in Ray 2.60), imported here so that a Ray that moved it
        import ray._private.state  # only loses this source of node types

        config = ray._private.state.state.get_cluster_config()
    except Exception:  # another Ray, an older GCS or no permission: fall back to the launcher's file
        return None
    if not config or not config.node_group_configs:
        return None
    types = [NodeShape(g.name, dict(g.resources), UNBOUNDED if g.max_count == -1 else g.max_count)
             for g in config.node_group_configs if g.max_count != 0]
    return Autoscaler(types, UNBOUNDED)


def autoscaler_from_launcher_config(path: str) -> Autoscaler | None:
    """The worker node types of a cluster launcher config (as `ray up` leaves it on the head)."""
    if not os.path.isfile(path):
        return None
    with open(path) as fh:
        config = yaml.safe_load(fh) or {}
    ceiling = config.get("max_workers", UNBOUNDED)
    head = config.get("head_node_type")
    types = [NodeShape(name, {k: float(v) for k, v in (t.get("resources") or {}).items()},
                       min(t.get("max_workers", ceiling), ceiling))
             for name, t in (config.get("available_node_types") or {}).items() if name != head]
    return Autoscaler([t for t in types if t.count > 0], ceiling)


def _fmt(resources: dict[str, float]) -> str:
    """CPU, GPU and custom resources; not memory or Ray's per-node markers."""
    shown = {k: v for k, v in resources.items()
             if k not in ("memory", "object_store_memory") and not k.startswith(("node:", "accelerator_type:"))}
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(shown.items())) + "}"


def describe_request(run) -> str:
    """What the run needs to start: an elastic run starts with its minimum."""
    bundle = worker_bundle(run)
    n = run.min_workers
    totals = ", ".join(f"{bundle[k] * n:g} {k}s" for k in sorted(bundle))
    flags = f"run.num_workers={run.workers_text()} x run.cpus_per_worker={run.cpus_per_worker:g}"
    if run.use_gpu:
        flags = f"--use-gpu with {flags} x run.gpus_per_worker={run.gpus_per_worker:g}"
    least = "at least " if run.elastic else ""
    return f"{flags} needs {least}{totals} ({n} x {_fmt(bundle)}, each on one node)"


def describe_cluster(nodes: list[NodeShape], autoscaler: Autoscaler | None, *, local: bool) -> str:
    where = "this machine's Ray" if local else "the cluster"
    lines = [f"{where} has: " + ("; ".join(f"{n.name} {_fmt(n.resources)}" for n in nodes) or "no nodes")]
    if autoscaler is None:
        lines.append("no autoscaler can add nodes" + ("" if not local else " (set RAY_ADDRESS to use a cluster)"))
    else:
        ceiling = "" if autoscaler.max_nodes >= UNBOUNDED else f" (at most {autoscaler.max_nodes} nodes in all)"
        lines.append("the autoscaler can add: " + ("; ".join(
            f"{t.name} {_fmt(t.resources) if t.resources else '{resources not declared}'} x up to {t.count}"
            for t in autoscaler.types) or "nothing") + ceiling)
    return "\n  ".join(lines)


def decide(bundle: dict[str, float], num_workers: int, nodes: list[NodeShape],
           autoscaler: Autoscaler | None) -> str:
    """"ready" (existing nodes hold the workers), "wait" (only with nodes an autoscaler can add)
    or "impossible"."""
    have = capacity(nodes, bundle)
    if have >= num_workers:
        return "ready"
    if autoscaler is not None:
        # The autoscaler's ceiling counts the worker nodes already up (all but the head).
        room = max(0, autoscaler.max_nodes - max(0, len(nodes) - 1))
        if have + capacity(autoscaler.types, bundle, room) >= num_workers:
            return "wait"
    return "impossible"


def ensure_resources(run, *, local: bool, wait: bool = True, verbose: bool = True) -> None:
    """Refuse a request no node, existing or launchable, can hold; wait a bounded time for one
    that only an autoscaler can satisfy.

    Args:
        run: the ``RunSection`` (workers, per-worker CPUs/GPUs, ``resource_timeout_s``).
        local: the job started its own Ray instance (nothing can add nodes to it).
        wait: wait for the autoscaler (the training driver); False only checks feasibility.
        verbose: say when and why it waits.
    """
    bundle = worker_bundle(run)
    nodes = existing_nodes()
    autoscaler = None if local else find_autoscaler()
    verdict = decide(bundle, run.min_workers, nodes, autoscaler)
    if verdict == "impossible":
        raise ResourceError(
            f"not enough resources: {describe_request(run)}; no node can hold them now and none "
            f"that can be added would.\n  {describe_cluster(nodes, autoscaler, local=local)}\n"
            f"Lower run.num_workers, run.cpus_per_worker or run.gpus_per_worker, drop --use-gpu, or "
            f"use a cluster whose nodes hold one worker each.")
    if verdict == "wait" and wait:
        wait_for_autoscaler(run, autoscaler, verbose)


def wait_for_autoscaler(run, autoscaler: Autoscaler | None, verbose: bool = True) -> None:
    """Ask for the workers' bundles as a placement group, so the autoscaler launches nodes for
    them, and wait at most ``run.resource_timeout_s``; release it for Ray Train to ask again."""
    bundle = worker_bundle(run)
    if verbose:
        print(f"waiting up to {run.resource_timeout_s:g} s (run.resource_timeout_s) for the autoscaler "
              f"to add nodes for {run.min_workers} x {_fmt(bundle)}", flush=True)
    pg = placement_group([dict(bundle) for _ in range(run.min_workers)], strategy="PACK")
    try:
        ready, _ = ray.wait([pg.ready()], timeout=run.resource_timeout_s)
    finally:
        remove_placement_group(pg)
    if not ready:
        raise ResourceError(
            f"not enough resources after {run.resource_timeout_s:g} s (run.resource_timeout_s): "
            f"{describe_request(run)}.\n  {describe_cluster(existing_nodes(), autoscaler, local=False)}\n"
            f"The autoscaler did not provide them in time (quota, spot capacity, or busy nodes); "
            f"see `ray status` on the head, or raise run.resource_timeout_s.")
