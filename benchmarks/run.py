"""The whole benchmark: the selected sections in one run, one result dict (``__main__`` writes it as JSON).

1. ``matmul``: this machine's float32 matrix-product rate, now.
2. ``steps``: training-step throughput per point: plain loop vs the project's default and fast steps.
3. ``ingest``: the Ray Data pipeline alone, on the bundled data and at scale (the memory section's
   dataset, with Ray's default object store), against the training rate.
4. ``jobs``: real ``jobs/train.py`` runs: one worker on the bundled data (Ray overhead against the
   plain loop, data wait, startup, memory), whose TensorFlow uses both cores; two 1-thread workers.
5. ``memory``: a real run on a Parquet dataset several times the Ray object store (capped for the
   run), with peak RSS of the driver and workers.
6. ``startup``: the CLI's import time, and that it imports no TensorFlow, Ray or Keras.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.ingest import bench_ingest
from benchmarks.jobs import MB, ROOT, run_train_job
from benchmarks.matmul import matmul_gflops
from benchmarks.steps import VARIANTS, Point, bench_point
from benchmarks.synthetic import write_bars
from benchmarks.targets import targets
from lstmgan_ray.config import DataSection
from lstmgan_ray.data.validate import inspect_dataset

# TensorFlow, Keras, Ray and pandas (and the lstmgan_ray modules that import them) are imported
# where used: ``python -m benchmarks --help``/``--report`` stay quick, and TensorFlow loads only
# after ``run_all`` has set TF_CPP_MIN_LOG_LEVEL.

__all__ = ["SECTIONS", "Settings", "run_all", "targets"]  # targets: re-exported from benchmarks.targets

SECTIONS = ("matmul", "steps", "ingest", "jobs", "memory", "startup")
BUNDLED = os.path.join(ROOT, "data", "indices")
TINY_MODEL = {"generator_units": [8, 8], "generator_dense": [4], "noise_dim": 2,
              "discriminator_filters": [4, 4], "discriminator_kernels": [3, 1], "discriminator_dense": [8, 8]}


@dataclass
class Settings:
    """What to run and for how long; the defaults are ``make bench`` (under 6 minutes on a quiet 2-core machine)."""

    sections: tuple[str, ...] = SECTIONS
    # (window, features, global batch): the bundled data's shape, the 36 features, a big batch.
    points: tuple[Point, ...] = (Point(3, 6, 128), Point(3, 36, 128), Point(3, 36, 512))
    variants: tuple[str, ...] = VARIANTS
    # What bfloat16 and unrolling are worth, at the first point.
    first_point_extra: tuple[str, ...] = ("fast-fp32", "default-loop")
    windows_per_round: int = 512        # steps per round: this many windows (at least one step)
    rounds: int = 3
    warmup: int = 2
    model: dict[str, Any] = field(default_factory=dict)  # model-section overrides (smoke: tiny)
    matmul_n: int = 2048
    data: str = BUNDLED                 # ingest and the one-worker job
    job_epochs: int = 2                 # the last epoch is the steady one (the first traces)
    scaling_days: int = 800             # the two-worker run trains on each series' last days (time)
    memory_mb: float = 240.0            # synthetic dataset, in-memory (Arrow) size
    object_store_mb: int = 80           # the memory run's object store (Ray's minimum is 75 MB)
    memory_batch: int = 4096
    cache_dir: str = os.path.join(tempfile.gettempdir(), "lstmgan-bench-data")
    # Seed and enable deterministic ops in this process, as a worker of the default config does
    # (process-wide and irreversible: the smoke test, inside pytest, leaves it off).
    worker_like_process: bool = True
    time_tensorflow_import: bool = True  # a fresh interpreter importing TensorFlow: seconds
    smoke: bool = False

    @classmethod
    def smoke_settings(cls, data: str = BUNDLED, **kwargs) -> Settings:
        """Tiny networks, one project variant, no Ray: the matmul, steps and startup code in seconds.
        (Each variant costs a graph trace of several seconds; ``default`` differs from ``fast`` in config only.)"""
        base = dict(sections=("matmul", "steps", "startup"), points=(Point(4, data_features(data), 16),),
                    variants=("plain", "fast"), first_point_extra=(), windows_per_round=16, rounds=1, warmup=1,
                    model=dict(TINY_MODEL), matmul_n=128, data=data, worker_like_process=False,
                    time_tensorflow_import=False, smoke=True)
        return cls(**{**base, **kwargs})

    def steps_per_round(self, point: Point) -> int:
        return max(1, round(self.windows_per_round / point.batch))


def data_features(path: str) -> int:
    """Feature columns of a dataset under the default data config (from the Parquet footers)."""
    return len(inspect_dataset(DataSection(path=path).model_dump()).features)


def machine_info() -> dict[str, Any]:
    import psutil
    import ray  # noqa: F401  (puts the psutil Ray ships on the path)

    # Imports TensorFlow: not before run_all has set TF_CPP_MIN_LOG_LEVEL.
    from lstmgan_ray.train.precision import cpu_bfloat16_for_auto, cpu_has_native_bfloat16

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"hostname": platform.node(), "cpu": cpu, "arch": platform.machine(), "cores": os.cpu_count(),
            "native_bfloat16": cpu_has_native_bfloat16(), "bfloat16_for_auto": cpu_bfloat16_for_auto(),
            "memory_gib": round(psutil.virtual_memory().total / 1024 ** 3, 1),
            "python": platform.python_version(), "load_avg_start": list(os.getloadavg())}


def worker_like() -> None:
    """What a worker of the default config does before it builds the GAN: seeds, deterministic ops."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()


def run_matmul(s: Settings) -> dict[str, Any]:
    return matmul_gflops(s.matmul_n)


def run_steps(s: Settings, keep: dict) -> list[dict[str, Any]]:
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # one per process, as on a worker
    out = []
    for i, p in enumerate(s.points):
        extra = tuple(v for v in s.first_point_extra if v not in s.variants) if i == 0 else ()
        out.append(bench_point(p, strategy, variants=s.variants + extra, model=s.model,
                               steps=s.steps_per_round(p), rounds=s.rounds, warmup=s.warmup,
                               keep=keep if i == 0 else None))
    return out


def run_ingest(s: Settings) -> dict[str, Any]:
    """The pipeline alone on the bundled data (a run's fixed cost dominates there), then on the
    memory section's large dataset, where its throughput shows."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address="local", include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        out = bench_ingest(s.data, input_dim=s.points[0].input_dim, batch=s.points[0].batch)
        if not s.smoke:
            large = memory_dataset(s)
            out["at_scale"] = {**bench_ingest(large["path"], input_dim=s.points[0].input_dim,
                                              batch=s.memory_batch), "dataset": large}
        return out
    finally:
        if started:
            ray.shutdown()


def last_days(src: str, dst: str, days: int) -> str:
    """Each series' last ``days`` rows of the Parquet data at ``src``, as one file in ``dst``."""
    import pandas as pd

    os.makedirs(dst, exist_ok=True)
    df = pd.read_parquet(src)
    df = df.sort_values("timestamp").groupby("series_id", sort=True).tail(days)
    df.to_parquet(os.path.join(dst, "part-0.parquet"), index=False)
    return dst


def _job_args(s: Settings, data: str, storage: str, name: str, *extra: str) -> list[str]:
    p = s.points[0]
    sets = [f"--set=model.{k}={json.dumps(v)}" for k, v in s.model.items()]
    return ["--data", data, "--epochs", str(s.job_epochs), "--batch-size", str(p.batch),
            "--set", f"data.input_dim={p.input_dim}", "--storage-path", storage, "--name", name,
            "--overwrite", "--set", "run.max_failures=0", *sets, *extra]


def _job_summary(run: dict[str, Any]) -> dict[str, Any]:
    last = run["history"][-1]
    return {"command": run["command"], "wall_s": run["wall_s"], "epochs": len(run["history"]),
            "windows": run["windows"], "windows_per_s": last["windows_per_s"],
            "data_wait_s": last["data_wait_s"], "epoch_time_s": last["epoch_time_s"],
            "startup_s": run["history"][0].get("startup_s"), "prepare_started_s": run["prepare_started_s"],
            "windows_ready_s": run["windows_ready_s"], "peak_rss_mb": run["peak_rss_mb"],
            "driver_imports_tensorflow_after_s": run["driver_imports_tensorflow_after_s"]}


def run_jobs(s: Settings, storage: str, keep: dict) -> dict[str, Any]:
    """One worker on the data (TensorFlow's default: as many threads as cores), then two 1-thread
    workers on each series' last ``scaling_days``, both on this machine's cores. The plain loop of
    the steps section is timed again just before and after the one-worker run: on a shared
    machine, load changes from minute to minute, and the ratio must compare like with like."""
    out: dict[str, Any] = {}
    before = keep["plain_rate"]() if "plain_rate" in keep else None
    one = out["one_worker"] = _job_summary(run_train_job(_job_args(s, s.data, storage, "one-worker")))
    if before is not None:
        after = keep["plain_rate"]()
        out["plain_windows_per_s"] = {"before": before, "after": after, "mean": (before + after) / 2}
    steps = one["windows"].get("train", 0) // s.points[0].batch
    step_time = steps * s.points[0].batch / one["windows_per_s"]
    out["data_wait"] = {"data_wait_s": one["data_wait_s"], "steps_s": step_time,
                        "fraction": one["data_wait_s"] / step_time}
    small = last_days(s.data, os.path.join(storage, "scaling-data"), s.scaling_days)
    out["two_workers"] = _job_summary(run_train_job(
        _job_args(s, small, storage, "two-workers", "--num-workers", "2"), env={"TF_NUM_INTRAOP_THREADS": "1"}))
    out["two_workers_vs_one_worker"] = out["two_workers"]["windows_per_s"] / one["windows_per_s"]
    return out


def memory_dataset(s: Settings) -> dict[str, Any]:
    """The synthetic Parquet dataset of ``memory_mb`` (written once, then cached in ``cache_dir``)."""
    data_dir = os.path.join(s.cache_dir, f"bars-{s.memory_mb:g}mb-60f")
    manifest = os.path.join(data_dir, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest) as fh:
            dataset = json.load(fh)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
        # Wide rows: the bytes the test is about, with fewer rows (and windows) to prepare.
        dataset = write_bars(os.path.join(data_dir, "bars"), target_mb=s.memory_mb, features=60)
        with open(manifest, "w") as fh:
            json.dump(dataset, fh)
    return dataset


def run_memory(s: Settings, storage: str) -> dict[str, Any]:
    """A real run on a dataset several times the object store, with the store capped at ``object_store_mb``."""
    dataset = memory_dataset(s)
    sets = [f"--set=model.{k}={json.dumps(v)}" for k, v in TINY_MODEL.items()]  # this run is about data
    args = ["--data", dataset["path"], "--epochs", "1", "--batch-size", str(s.memory_batch),
            "--storage-path", storage, "--name", "memory", "--overwrite", "--set", "run.max_failures=0", *sets]
    # A local Ray sizes its object store as min(30% of RAM, this cap).
    run = run_train_job(args, env={"RAY_DEFAULT_OBJECT_STORE_MAX_MEMORY_BYTES": str(int(s.object_store_mb * MB))})
    windows = sum(run["windows"].values())
    return {"dataset": dataset, "object_store_mb": s.object_store_mb,
            "dataset_vs_object_store": dataset["arrow_mb"] / s.object_store_mb,
            "windows": run["windows"], "prepare_s": run["prepare_s"],
            "prepare_windows_per_s": windows / run["prepare_s"] if run["prepare_s"] else None,
            "windows_per_s": run["history"][-1]["windows_per_s"], "wall_s": run["wall_s"],
            "peak_rss_mb": run["peak_rss_mb"], "peak_rss_total_mb": run["peak_rss_total_mb"]}


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, *args, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT, check=True)


def run_startup(time_tensorflow_import: bool = True) -> dict[str, Any]:
    """The CLI's import time and heavy imports, ``--help``'s wall time, and TensorFlow's import time."""
    heavy = _python("import sys, lstmgan_ray.cli; print(sorted({m.split('.')[0] for m in sys.modules} "
                    "& {'tensorflow', 'keras', 'ray', 'pandas', 'pyarrow'}))").stdout.strip()
    proc = _python("import lstmgan_ray.cli", "-X", "importtime")
    cli_us = max(int(line.split("|")[1]) for line in proc.stderr.splitlines()
                 if line.startswith("import time:") and line.rstrip().endswith(" lstmgan_ray.cli"))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, os.path.join(ROOT, "jobs", "train.py"), "--help"], capture_output=True,
                   env={**os.environ, "PYTHONPATH": ROOT}, cwd=ROOT, check=True)
    help_s = time.perf_counter() - t0
    tf_s = float(_python("import time; t = time.perf_counter(); import tensorflow; "
                         "print(time.perf_counter() - t)").stdout.strip().splitlines()[-1]
                 ) if time_tensorflow_import else None
    return {"cli_import_s": cli_us / 1e6, "cli_heavy_imports": json.loads(heavy.replace("'", '"')),
            "help_s": help_s, "tensorflow_import_s": tf_s}


def run_all(s: Settings, progress=print) -> dict[str, Any]:
    """Run the selected sections; returns the result dict (docs/performance.md explains it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t_start = time.perf_counter()  # the run's duration includes these imports
    import ray  # here, after TF_CPP_MIN_LOG_LEVEL is set: TensorFlow reads it when it loads
    import tensorflow as tf

    result: dict[str, Any] = {"machine": machine_info(), "settings": settings_dict(s),
                              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "section_s": {}}
    if s.worker_like_process and "steps" in s.sections:
        worker_like()
    storage = tempfile.mkdtemp(prefix="lstmgan-bench-runs-")
    keep: dict = {}
    runners = {"matmul": lambda: run_matmul(s), "steps": lambda: run_steps(s, keep), "ingest": lambda: run_ingest(s),
               "jobs": lambda: run_jobs(s, storage, keep), "memory": lambda: run_memory(s, storage),
               "startup": lambda: run_startup(s.time_tensorflow_import)}
    try:
        for section in s.sections:
            t0 = time.perf_counter()
            progress(f"[bench] {section} ...")
            result[section] = runners[section]()
            result["section_s"][section] = time.perf_counter() - t0
            progress(f"[bench] {section} done in {result['section_s'][section]:.0f}s")
            if section == "steps" and "matmul" in result:
                # The peak again, after minutes of other load may have passed; the best counts.
                again = run_matmul(s)
                for key in ("numpy_gflops", "tensorflow_gflops"):
                    result["matmul"][f"{key}_runs"] = [result["matmul"][key], again[key]]
                    result["matmul"][key] = max(result["matmul"][key], again[key])
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    result["machine"].update(tensorflow=tf.__version__, ray=ray.__version__, load_avg_end=list(os.getloadavg()))
    result["duration_s"] = time.perf_counter() - t_start
    result["targets"] = targets(result)
    return result


def settings_dict(s: Settings) -> dict[str, Any]:
    d = dataclasses.asdict(s)
    d["points"] = [dataclasses.asdict(p) for p in s.points]
    return d

