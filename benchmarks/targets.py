"""The issue's targets, judged on a result dict (a fresh run's, or a saved one's for ``--report``).

Judging also records the ratios the report prints next to them (``*_vs_consumption``,
``one_worker_vs_plain``) in the result's sections.
"""

from __future__ import annotations

from typing import Any

from benchmarks.steps import Point


class _Targets(list):
    """The targets judged so far, in report order."""

    def add(self, name: str, value, goal: str, met) -> None:
        self.append({"target": name, "goal": goal, "value": value,
                     "met": None if value is None or met is None else bool(met)})


def _step_targets(out: _Targets, steps: list[dict[str, Any]]) -> None:
    for point in steps:
        v, label = point["variants"], Point(**point["point"]).label()
        # A variant whose losses went NaN never meets a target, whatever its speed.
        if "vs_plain" in v.get("default", {}):
            out.add(f"default step vs plain loop ({label})", v["default"]["vs_plain"], ">= 1",
                    v["default"]["vs_plain"] >= 1 and not v["default"].get("nonfinite"))
        if "vs_plain" in v.get("fast", {}):
            out.add(f"fast step vs plain loop ({label})", v["fast"]["vs_plain"], ">= 1.5",
                    v["fast"]["vs_plain"] >= 1.5 and not v["fast"].get("nonfinite"))


def _consumption(steps: list[dict[str, Any]]) -> float | None:
    """Training consumes windows at most at the fastest step's rate at the first point (the data's shape)."""
    if not steps:
        return None
    return max((v["windows_per_s"] for name, v in steps[0]["variants"].items() if name != "plain"), default=None)


def _ingest_targets(out: _Targets, ingest: dict[str, Any], consume: float) -> None:
    ingest["consumption_windows_per_s"] = consume
    for key in ("prepare", "iterate"):
        ratio = ingest[f"{key}_vs_consumption"] = ingest[f"{key}_windows_per_s"] / consume
        if key == "prepare":
            # Ten thousand windows: the seconds are Ray Data's fixed cost per run (starting its
            # tasks), paid once, not a rate; the pipeline's rate is the at-scale row.
            out.add("ingest prepare (bundled data) vs fastest training", ratio, "reported: fixed cost", None)
        else:
            out.add(f"ingest {key} (bundled data) vs fastest training", ratio, ">= 10", ratio >= 10)
    scale = ingest.get("at_scale")
    if scale:
        ratio = scale["prepare_vs_consumption"] = scale["prepare_windows_per_s"] / consume
        out.add("ingest prepare at scale (pipeline alone) vs fastest training", ratio, ">= 10", ratio >= 10)


def _job_targets(out: _Targets, jobs: dict[str, Any], steps: list[dict[str, Any]]) -> None:
    out.add("step loop's wait on data (fraction of step time)", jobs["data_wait"]["fraction"], "< 0.01",
            jobs["data_wait"]["fraction"] < 0.01)
    plain = (jobs.get("plain_windows_per_s", {}).get("mean")
             or (steps[0]["variants"].get("plain", {}).get("windows_per_s") if steps else None))
    if plain:
        ratio = jobs["one_worker_vs_plain"] = jobs["one_worker"]["windows_per_s"] / plain
        out.add("one-worker jobs/train.py epoch vs plain loop", ratio, ">= 0.9", ratio >= 0.9)


def _memory_targets(out: _Targets, mem: dict[str, Any], jobs: dict[str, Any] | None) -> None:
    out.add("memory run: dataset (Arrow) vs object store", mem["dataset_vs_object_store"], ">= 3",
            mem["dataset_vs_object_store"] >= 3)
    small = (jobs or {}).get("one_worker", {}).get("peak_rss_mb", {}).get("driver")
    if small and mem["peak_rss_mb"].get("driver"):
        ratio = mem["peak_rss_mb"]["driver"] / small
        out.add("driver peak RSS: memory run / bundled-data run", ratio, "<= 1.5 (bounded)", ratio <= 1.5)


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with its measured value and whether it is met."""
    out = _Targets()
    steps = r.get("steps") or []
    _step_targets(out, steps)
    consume = _consumption(steps)
    ingest, mem, jobs = r.get("ingest"), r.get("memory"), r.get("jobs")
    if ingest and consume:
        _ingest_targets(out, ingest, consume)
    if mem and consume and mem.get("prepare_windows_per_s"):
        # Reported, not a target: this run's object store is capped to force spilling.
        mem["prepare_vs_consumption"] = mem["prepare_windows_per_s"] / consume
    if jobs:
        _job_targets(out, jobs, steps)
    if mem:
        _memory_targets(out, mem, jobs)
    return list(out)
