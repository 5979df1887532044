"""The benchmark result as text: what ``make bench`` prints and docs/performance.md quotes."""

from __future__ import annotations

from typing import Any


def _f(value, fmt="{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table, columns padded."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]


def machine_lines(r: dict[str, Any]) -> list[str]:
    """The machine, its load at start and end, and the run's duration."""
    m = r["machine"]
    return [f"machine: {m['cpu']} ({m['arch']}), {m['cores']} cores, {m['memory_gib']} GiB, native bfloat16: "
            f"{m['native_bfloat16']} (auto uses it: {m.get('bfloat16_for_auto', '-')}); "
            f"TensorFlow {m.get('tensorflow')}, Ray {m.get('ray')}; load average "
            f"{m['load_avg_start'][0]:.2f} at start, {_f((m.get('load_avg_end') or [None])[0], '{:.2f}')} at end; "
            f"{r['duration_s']:.0f} s", ""]


def matmul_lines(mm: dict[str, Any]) -> list[str]:
    return [f"float32 matmul {mm['n']}x{mm['n']}: NumPy {mm['numpy_gflops']:.1f} GFLOP/s, "
            f"TensorFlow {mm['tensorflow_gflops']:.1f} GFLOP/s (best of the runs before and after the steps)", ""]


def steps_lines(steps: list[dict[str, Any]], peak: float | None) -> list[str]:
    """One table row per point and variant; GFLOP/s read against the NumPy matmul ``peak``."""
    rows = []
    for point in steps:
        p = point["point"]
        for name, v in point["variants"].items():
            rows.append([f"{p['input_dim']} / {p['features']} / {p['batch']}", name,
                         _f(v["windows_per_s"], "{:.0f}"), _f(v["ms_per_step"], "{:.0f}"), _f(v["gflops"]),
                         _f(100 * v["gflops"] / peak if peak else None, "{:.0f}%"),
                         "1" if name == "plain" else _f(v.get("vs_plain"), "{:.2f}x")
                         + (" (NaN losses)" if v.get("nonfinite") else "")])
    return [*table(["T / F / batch", "step", "windows/s", "ms/step", "GFLOP/s", "of NumPy matmul",
                    "vs plain loop"], rows), ""]


def ingest_lines(g: dict[str, Any]) -> list[str]:
    """The pipeline alone: on the bundled data, then at scale if it ran."""
    lines = [f"ingest alone, bundled data ({g['windows']} windows): prepare {g['prepare_windows_per_s']:.0f} "
             f"windows/s ({g['prepare_s']:.1f} s), iterate {g['iterate_windows_per_s']:.0f} windows/s "
             f"(longest wait for a batch {1000 * g['iterate_longest_batch_wait_s']:.0f} ms); fastest "
             f"training step {_f(g.get('consumption_windows_per_s'), '{:.0f}')} windows/s"]
    if "at_scale" in g:
        a = g["at_scale"]
        lines.append(f"ingest alone, at scale (the memory run's {a['dataset']['parquet_mb']:.0f} MB, "
                     f"{a['windows']} windows, Ray's default object store): prepare "
                     f"{a['prepare_windows_per_s']:.0f} windows/s ({a['prepare_s']:.1f} s) = "
                     f"{_f(a.get('prepare_vs_consumption'), '{:.0f}x')} the fastest training step; "
                     f"iterate {a['iterate_windows_per_s']:.0f} windows/s")
    return lines


def jobs_lines(j: dict[str, Any], scaling_days) -> list[str]:
    """The one-worker run against the plain loop, then the two 1-thread workers."""
    one, w = j["one_worker"], j["data_wait"]
    return [f"jobs/train.py, 1 worker, bundled data: {one['windows_per_s']:.0f} windows/s (epoch "
            f"{one['epochs']}) = {_f(j.get('one_worker_vs_plain'), '{:.2f}x')} the plain loop (timed again "
            f"around it: {_f(j.get('plain_windows_per_s', {}).get('mean'), '{:.0f}')} windows/s); waited on "
            f"data {w['data_wait_s']:.2f} s of {w['steps_s']:.1f} s ({100 * w['fraction']:.2f}%); first "
            f"step {_f(one['startup_s'])} s after the command (data preparation from "
            f"{_f(one['prepare_started_s'])} s to {_f(one['windows_ready_s'])} s); wall {one['wall_s']:.0f} s; "
            f"peak RSS driver {_f(one['peak_rss_mb'].get('driver'), '{:.0f}')} MB, worker "
            f"{_f(one['peak_rss_mb'].get('train_worker'), '{:.0f}')} MB",
            f"2 workers x 1 thread: {j['two_workers']['windows_per_s']:.0f} windows/s (each series' last "
            f"{scaling_days} days) = {j['two_workers_vs_one_worker']:.2f}x the 1 worker "
            f"with 2 threads above; first step {_f(j['two_workers']['startup_s'])} s after the command"]


def memory_line(mem: dict[str, Any]) -> str:
    rss, d = mem["peak_rss_mb"], mem["dataset"]
    return (f"memory: {d['parquet_mb']:.0f} MB Parquet ({d['arrow_mb']:.0f} MB in memory, {d['rows']} rows x "
            f"{d['features']} features) = {mem['dataset_vs_object_store']:.1f}x the {mem['object_store_mb']} MB "
            f"object store; {sum(mem['windows'].values())} windows prepared at "
            f"{_f(mem['prepare_windows_per_s'], '{:.0f}')}/s (spilling); completed in {mem['wall_s']:.0f} s; "
            f"peak RSS driver {_f(rss.get('driver'), '{:.0f}')} MB, train worker "
            f"{_f(rss.get('train_worker'), '{:.0f}')} MB, largest other Ray worker "
            f"{_f(rss.get('ray_worker'), '{:.0f}')} MB, whole tree {mem['peak_rss_total_mb']:.0f} MB")


def startup_line(st: dict[str, Any]) -> str:
    heavy = ", ".join(st["cli_heavy_imports"]) or "none"
    return (f"CLI: import {st['cli_import_s']:.2f} s (heavy modules: {heavy}),"
            f" --help {st['help_s']:.2f} s; TensorFlow's own import {_f(st['tensorflow_import_s'])} s")


def targets_lines(targets: list[dict[str, Any]]) -> list[str]:
    return ["", *table(["target", "goal", "measured", "met"],
                       [[t["target"], t["goal"], _f(t["value"], "{:.3g}"),
                         {True: "yes", False: "NO", None: "-"}[t["met"]]] for t in targets])]


def format_report(r: dict[str, Any]) -> str:
    """Machine line, the steps table, one line per other section, then the targets table."""
    out = machine_lines(r)
    peak = None
    if "matmul" in r:
        peak = r["matmul"]["numpy_gflops"]
        out += matmul_lines(r["matmul"])
    if "steps" in r:
        out += steps_lines(r["steps"], peak)
    lines = []
    if "ingest" in r:
        lines += ingest_lines(r["ingest"])
    if "jobs" in r:
        lines += jobs_lines(r["jobs"], r["settings"]["scaling_days"])
    if "memory" in r:
        lines.append(memory_line(r["memory"]))
    if "startup" in r:
        lines.append(startup_line(r["startup"]))
    out += [f"- {line}" for line in lines]
    if r.get("targets"):
        out += targets_lines(r["targets"])
    return "\n".join(out)
