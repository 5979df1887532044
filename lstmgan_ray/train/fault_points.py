"""A pause point inside the training loop, so failure tests can strike mid-epoch.

Killing a worker, losing a node or draining one for preemption only proves
something if it happens at a known step of a known epoch; a tiny test epoch lasts
well under a second. With ``LSTMGAN_PAUSE_DIR`` and ``LSTMGAN_PAUSE_AT=E:S[,E:S...]``
set in the training driver's environment (the driver passes them on to the
workers with the rest of their config), each worker that has just done step S of
epoch E writes ``rank<R>-epoch<E>-step<S>.json`` (its pid and node) into the
directory, then waits while ``hold-<E>-<S>`` is there. Unset, as always outside
tests, training never looks at it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import ray
import ray.train

PAUSE_DIR_ENV = "LSTMGAN_PAUSE_DIR"
PAUSE_AT_ENV = "LSTMGAN_PAUSE_AT"
MAX_HOLD_S = 600.0


def marker_name(rank: int, epoch: int, step: int) -> str:
    return f"rank{rank}-epoch{epoch}-step{step}.json"


def hold_name(epoch: int, step: int) -> str:
    return f"hold-{epoch}-{step}"


def pause_spec_from_env() -> dict | None:
    """On the driver: the pause a test asked for, to ship to the workers; None normally."""
    directory, at = os.environ.get(PAUSE_DIR_ENV), os.environ.get(PAUSE_AT_ENV)
    if not directory or not at:
        return None
    points = [[int(part) for part in point.split(":")] for point in at.split(",")]
    return {"dir": directory, "points": points}


def pause_point(spec: dict | None, rank: int) -> Callable[[int, int], None] | None:
    """``pause(epoch, step)`` (1-based) for this worker, or None when no test asked for one."""
    if not spec:
        return None
    directory, points = spec["dir"], {tuple(point) for point in spec["points"]}

    def pause(epoch: int, step: int) -> None:
        if (epoch, step) not in points:
            return
        info = {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(), "time": time.time(),
                "world": ray.train.get_context().get_world_size()}
        tmp = os.path.join(directory, f".rank{rank}.tmp")
        with open(tmp, "w") as fh:
            json.dump(info, fh)
        os.replace(tmp, os.path.join(directory, marker_name(rank, epoch, step)))
        deadline = time.monotonic() + MAX_HOLD_S
        while os.path.exists(os.path.join(directory, hold_name(epoch, step))) and time.monotonic() < deadline:
            time.sleep(0.05)

    return pause
