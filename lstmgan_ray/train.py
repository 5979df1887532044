"""Distributed training: one ``train_loop_per_worker`` for 1 or N workers, and its driver.

The worker loop never branches on world size: MultiWorkerMirroredStrategy
averages gradients, losses are divided by the global batch, and every worker
takes the same number of steps (computed on the driver from the split's size).
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from lstmgan_ray.config import Config

log = logging.getLogger(__name__)

METRIC_KEYS = ("epoch", "d_loss", "g_loss", "g_adv_loss", "g_sup_loss", "val_rmse",
               "val_rmse_persistence", "val_windows", "windows_per_s", "data_wait_s", "epoch_time_s",
               "workers")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or inf; the run stopped without checkpointing the diverged state."""


def checkpoint_dir_name(epoch: int) -> str:
    return f"checkpoint_epoch_{epoch:04d}"


def preemption_dir_name(epoch: int, step: int) -> str:
    """A just-in-time checkpoint taken on a preemption notice, ``step`` steps into ``epoch``."""
    return f"checkpoint_preempt_epoch_{epoch:04d}_step_{step:04d}"


# -- worker side ----------------------------------------------------------------

def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no /proc/cpuinfo)."""
    try:
        with open(cpuinfo) as fh:
            return set(next((line for line in fh if line.startswith("flags")), "").split())
    except OSError:
        return set()


def cpu_has_native_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512_BF16 or AMX-BF16; Linux flags)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags(cpuinfo))


def cpu_bfloat16_for_auto(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether ``mixed_precision: auto`` trains in bfloat16 on this CPU: AVX512_BF16 without AMX.

    On a 2-core Xeon VM with AMX, TensorFlow 2.21's oneDNN AMX kernels turned the fast
    profile's losses to NaN at the second step (finite with ``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16``,
    i.e. AMX off, and in float32); on an AMD EPYC with AVX512_BF16 and no AMX it trained
    normally. ``auto`` therefore stays float32 where AMX is present; ``bfloat16`` forces it.
    """
    flags = cpu_flags(cpuinfo)
    return "avx512_bf16" in flags and "amx_bf16" not in flags


def gpu_visible() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def precision_policy(mode: str, on_gpu: bool, cpu_bf16: bool) -> str | None:
    """The Keras dtype policy for ``train.mixed_precision``; ``None`` is plain float32.

    ``auto``: float16 on GPU workers (Tensor Cores; loss-scaled), bfloat16 on CPUs where
    ``cpu_bf16`` (``cpu_bfloat16_for_auto``), float32 elsewhere (emulated bfloat16 and CPU
    float16 are slower than float32).
    """
    if mode == "auto":
        return "mixed_float16" if on_gpu else ("mixed_bfloat16" if cpu_bf16 else None)
    return {"off": None, "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[mode]


def use_xla(setting: bool | str, on_gpu: bool) -> bool | str:
    """``train.jit_compile`` on this worker: True, False, or ``"auto"`` (decided by the layers).

    ``auto`` is off on CPUs, where XLA measured slower for these LSTMs, and on GPUs
    leaves it to the layers: XLA unless a layer cannot be compiled (cuDNN LSTMs).
    """
    if setting == "auto":
        return "auto" if on_gpu else False
    return bool(setting)


UNROLL_MAX_STEPS = 32


def use_unroll(setting: bool | str, input_dim: int, cudnn: bool) -> bool:
    """``train.unroll`` on this worker: whether the generator LSTMs unroll their time loop.

    Unrolled, a window's few steps become straight-line code: the same arithmetic without
    a ``while_loop``, which on CPUs measured 1.33x the looped step (design networks, T=3,
    batch 128) and traces faster. ``auto`` unrolls windows of up to ``UNROLL_MAX_STEPS``
    steps (graph size and memory grow with the length) unless the LSTMs can use cuDNN,
    whose fused kernel needs the loop.
    """
    if setting == "auto":
        return input_dim <= UNROLL_MAX_STEPS and not cudnn
    return bool(setting)


def build_gan(cfg: dict[str, Any], scaler: dict[str, Any]):
    """The compiled LSTMGAN for a resolved config and fitted scaler (inside a strategy scope).

    Applies the speed settings of ``cfg["train"]``: the mixed-precision policy (float16 gets
    loss scaling whose skip decision all workers share), XLA, unrolling, and the learning-rate rule.
    """
    import keras

    from lstmgan_ray.config import TrainConfig
    from lstmgan_ray.gan import LSTMGAN, SyncedLossScaleOptimizer
    from lstmgan_ray.models import build_models

    d, t = cfg["data"], cfg["train"]
    on_gpu = bool(cfg["run"]["use_gpu"]) and gpu_visible()
    policy = precision_policy(t["mixed_precision"], on_gpu, cpu_bfloat16_for_auto())
    xla = use_xla(t["jit_compile"], on_gpu)
    # An explicit jit_compile=true compiles the LSTMs too, so they keep the generic kernel.
    use_cudnn = False if xla is True else "auto"
    cudnn = on_gpu and use_cudnn == "auto" and not cfg["model"]["recurrent_dropout"]
    generator, discriminator = build_models(cfg["model"], d["input_dim"], d["output_dim"],
                                            len(scaler["features"]), dtype=policy, use_cudnn=use_cudnn,
                                            unroll=use_unroll(t["unroll"], d["input_dim"], cudnn))
    gan = LSTMGAN(generator, discriminator, target_index=scaler["target_index"],
                  noise_dim=cfg["model"]["noise_dim"], target_transform=d["target_transform"],
                  seed=t["seed"])

    def adam(lr):
        opt = keras.optimizers.Adam(learning_rate=lr, beta_1=t["beta_1"], beta_2=t["beta_2"])
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
        return SyncedLossScaleOptimizer(opt) if policy == "mixed_float16" else opt

    g_lr, d_lr = TrainConfig.model_validate(t).learning_rates()
    gan.compile(adam(d_lr), adam(g_lr),
                global_batch_size=t["batch_size"], loss=t["loss"], n_critic=t["n_critic"],
                gp_weight=t["gp_weight"], supervised_loss=t["supervised_loss"],
                supervised_weight=t["supervised_weight"], jit_compile=xla)
    gan.build_optimizers()
    return gan


def _all_sum(strategy, values):
    """Sum a small float64 vector over all workers (one collective; every worker calls it)."""
    import tensorflow as tf

    local = tf.constant(values, dtype=tf.float64)
    per_replica = strategy.experimental_distribute_values_from_function(lambda _ctx: local)
    return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()


def validation_sums(errors, shard, batch_size: int):
    """Local sums of squared errors (model, persistence) and the window count over a val shard.

    ``errors`` is ``gan.forecast_errors`` compiled once per worker (``tf.function`` with
    ``reduce_retracing``), so the batch sizes of later epochs reuse the traces of the first.
    """
    import numpy as np
    import tensorflow as tf

    sums = np.zeros(3)
    for batch in shard.iter_batches(batch_size=batch_size, batch_format="numpy"):
        se, se_p = errors({k: tf.constant(batch[k]) for k in ("x", "last", "mu", "sd")},
                          tf.constant(batch["y"]))
        sums += [float(tf.reduce_sum(se)), float(tf.reduce_sum(se_p)), int(se.shape[0])]
    return sums


def distributed_train_step(strategy, gan):
    """One compiled global step: ``gan.train_step`` on every replica, gradients all-reduced.

    A hand-written loop instead of ``gan.fit``: Keras 3's fit probes the first
    batch with ``strategy.reduce`` on the whole (dict) batch, which fails with
    more than one MWMS worker (keras-team/keras#20329); and Ray has already
    sharded the data, so each worker's batch goes to its replica as it is.
    """
    import tensorflow as tf

    @tf.function
    def step(batch):
        strategy.run(gan.train_step, args=(batch,))

    return step


def run_epoch(strategy, step_fn, gan, batches, steps: int, *, start_step: int = 0, after_step=None):
    """Run global steps ``start_step``..``steps`` over an iterable of this worker's NumPy batches.

    Returns the epoch's loss means (synced over workers) and the seconds spent
    waiting on data. An epoch resumed from a mid-epoch checkpoint (``start_step``
    > 0, loss trackers restored) first skips the batches already trained on, so the
    rest of the epoch sees exactly the windows an unbroken one would. ``after_step``
    is called with the number of steps done after each step. The iterable is
    drained to its end afterwards, so that the next epoch's Ray Data iteration
    starts at the beginning of the shard.
    """
    import tensorflow as tf

    from lstmgan_ray.gan import NO_BAD_STEP

    if start_step == 0:
        for tracker in gan.metrics:
            tracker.reset_state()
    first_step = int(gan.g_optimizer.iterations.numpy()) - start_step
    iterator = iter(batches)
    waited = 0.0
    for _ in range(start_step):
        next(iterator)
    for done in range(start_step + 1, steps + 1):
        t0 = time.perf_counter()
        batch = next(iterator)
        waited += time.perf_counter() - t0
        local = ({"x": tf.constant(batch["x"])}, tf.constant(batch["y"]))
        step_fn(strategy.experimental_distribute_values_from_function(lambda _ctx, v=local: v))
        if after_step is not None:
            after_step(done)
    for _ in iterator:
        pass
    logs = {m.name: float(m.result()) for m in gan.metrics[:4]}
    bad = int(gan.nonfinite_tracker.result())
    logs["first_nonfinite_step"] = None if bad == NO_BAD_STEP else bad - first_step + 1
    return logs, waited


class PreemptionGuard:
    """Asks Ray every ``every`` steps whether a node of this run is being preempted; on the
    first notice, checkpoints the middle of the epoch so the restarted run loses at most
    the steps since.

    ``ray.train.get_preemption_info`` is a barrier: every worker calls it at the same
    steps, which holds because every worker takes the same number of steps.
    """

    def __init__(self, every: int, save):
        self.every = every
        self.save = save
        self.noticed = False

    def __call__(self, epoch: int, step: int) -> None:
        import ray.train

        if not self.every or self.noticed or step % self.every:
            return
        info = ray.train.get_preemption_info()
        if info is not None:
            self.noticed = True
            self.save(epoch, step, info)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train worker: build the GAN under MWMS, resume if a checkpoint exists, train, report.

    Args:
        config: ``{"cfg": resolved config dict, "scaler": fitted scaler,
            "steps_per_epoch": int, "resume_from": checkpoint path or None,
            "pause": a test's pause point (``fault_points``) or None,
            "launched_at": Unix time the command started, or None}`` from the driver.
    """
    import keras
    import numpy as np
    import ray.train
    import tensorflow as tf

    from lstmgan_ray.checkpoint import read_trackers, restore_training_state, save_checkpoint
    from lstmgan_ray.fault_points import pause_point

    cfg, scaler, steps = config["cfg"], config["scaler"], int(config["steps_per_epoch"])
    t = cfg["train"]
    ctx = ray.train.get_context()
    world, rank = ctx.get_world_size(), ctx.get_world_rank()
    keras.utils.set_random_seed(t["seed"])
    if t["deterministic"]:
        tf.config.experimental.enable_op_determinism()

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        gan = build_gan(cfg, scaler)
        start_epoch, start_step = 0, 0
        # This run's latest checkpoint (after a failure, preemption or resize) wins over --resume-from.
        checkpoint = ray.train.get_checkpoint() or (
            ray.train.Checkpoint(config["resume_from"]) if config.get("resume_from") else None)
        if checkpoint:
            with checkpoint.as_directory() as ckpt_dir:
                start_epoch, start_step = restore_training_state(ckpt_dir, gan)
            if rank == 0:
                where = f"step {start_step} of epoch {start_epoch + 1}" if start_step else f"epoch {start_epoch}"
                print(f"resuming after {where} from {checkpoint.path} on {world} worker(s)", flush=True)

    def report_preemption(epoch: int, step: int, info) -> None:
        """All workers report; rank 0's checkpoint carries the trackers so the epoch's means survive."""
        metrics = {"epoch": epoch + 1, "preempted_at_step": step, "val_rmse": float("nan"),
                   "workers": world, "preempted_nodes": len(info.preempted_node_ids)}
        trackers = read_trackers(gan)
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = None
            if rank == 0:
                save_checkpoint(tmp, gan, scaler, cfg, epoch, metrics, step=step, trackers=trackers)
                ckpt = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=ckpt, checkpoint_dir_name=preemption_dir_name(epoch + 1, step))

    guard = PreemptionGuard(cfg["run"]["preemption_check_steps"], report_preemption)
    pause = pause_point(config.get("pause"), rank)
    step_fn = distributed_train_step(strategy, gan)
    errors = tf.function(gan.forecast_errors, reduce_retracing=True)
    first_step_done: list[float] = []

    def step_noting_the_first(batch):  # startup_s: from the command to the first finished step
        step_fn(batch)
        if not first_step_done:
            first_step_done.append(time.time())

    local_batch = t["batch_size"] // world
    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")
    for epoch in range(start_epoch, t["epochs"]):
        batches = train_shard.iter_batches(
            batch_size=local_batch, batch_format="numpy", drop_last=True, prefetch_batches=2,
            local_shuffle_buffer_size=t["shuffle_buffer"] or None,
            local_shuffle_seed=(t["seed"] * 1000 + epoch) if t["shuffle_buffer"] else None)

        def after_step(done: int, epoch: int = epoch) -> None:
            if pause is not None:
                pause(epoch + 1, done)
            guard(epoch, done)

        skip = start_step if epoch == start_epoch else 0  # steps a mid-epoch checkpoint already did
        started = time.perf_counter()
        logs, data_wait = run_epoch(strategy, step_noting_the_first, gan, batches, steps,
                                    start_step=skip, after_step=after_step)
        train_time = time.perf_counter() - started
        trained_steps = steps - skip
        se, se_p, count = _all_sum(strategy, validation_sums(errors, val_shard, local_batch))
        metrics = {
            "epoch": epoch + 1,
            "d_loss": logs["d_loss"], "g_loss": logs["g_loss"],
            "g_adv_loss": logs["g_adv_loss"], "g_sup_loss": logs["g_sup_loss"],
            "val_rmse": math.sqrt(se / count) if count else float("nan"),
            "val_rmse_persistence": math.sqrt(se_p / count) if count else float("nan"),
            "val_windows": int(count),
            "windows_per_s": trained_steps * t["batch_size"] / train_time,
            "data_wait_s": data_wait,
            "epoch_time_s": time.perf_counter() - started,
            "workers": world,
        }
        if config.get("launched_at") and not checkpoint and epoch == start_epoch and first_step_done:
            metrics["startup_s"] = first_step_done[0] - config["launched_at"]
        if logs["first_nonfinite_step"] is not None or not np.isfinite(metrics["val_rmse"]):
            # Every worker sees the same synced values, so all stop here together. Reported
            # without a checkpoint: a diverged state never becomes "best" or "latest".
            metrics["diverged_at_step"] = logs["first_nonfinite_step"] or steps
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = None
            if rank == 0:
                save_checkpoint(tmp, gan, scaler, cfg, epoch + 1, metrics)
                ckpt = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=ckpt, checkpoint_dir_name=checkpoint_dir_name(epoch + 1))


# -- driver side ----------------------------------------------------------------

@dataclass
class TrainingOutcome:
    """What a finished run leaves: the best checkpoint, the run directory and the best metrics."""

    best_checkpoint: str | None
    run_dir: str
    metrics: dict[str, Any] | None
    history: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        return {"best_checkpoint": self.best_checkpoint, "run_dir": self.run_dir,
                "metrics": self.metrics, "epochs_reported": len(self.history)}


def process_start_time() -> float:
    """When this process (the job's command) started, as Unix time."""
    import ray  # noqa: F401  (puts the psutil Ray ships on the path)
    import psutil

    return psutil.Process().create_time()


def resolve_storage_path(path: str) -> str:
    """Ray wants an absolute local path or a URI."""
    return path if "://" in path else os.path.abspath(os.path.expanduser(path))


def default_run_name() -> str:
    return time.strftime("lstmgan-%Y%m%d-%H%M%S", time.gmtime())


def init_ray() -> bool:
    """Join RAY_ADDRESS's cluster if set, else start a local instance; True if we started it.

    Without RAY_ADDRESS, Ray's own default would join whatever cluster `ray start` last
    recorded in /tmp/ray/ray_current_cluster, and hang if that cluster is gone. A job run
    by hand means "here, now"; `ray job submit` always sets RAY_ADDRESS, and
    ``RAY_ADDRESS=auto`` joins a cluster started on this machine.
    """
    import ray

    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS") or None
    ray.init(address=address or "local", log_to_driver=True, configure_logging=True,
             logging_level=logging.WARNING)
    return address is None


def claim_run_dir(run_dir: str, *, resume: bool, overwrite: bool) -> None:
    """Refuse to start over an existing run unless told to continue it or replace it.

    Ray Train would silently continue a run found at the same storage path and
    name; users must say which they mean, so nothing written before is lost by accident.
    """
    import pyarrow.fs as pafs

    from lstmgan_ray.config import ConfigError
    from lstmgan_ray.validate import filesystem_for

    fs, path = filesystem_for(run_dir)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return
    entries = fs.get_file_info(pafs.FileSelector(path, recursive=False))
    if not entries or resume:
        return
    if overwrite:
        fs.delete_dir(path)
        return
    checkpoints = sorted(e.base_name for e in entries if e.base_name.startswith("checkpoint_"))
    latest = f" (latest {checkpoints[-1]})" if checkpoints else ""
    raise ConfigError(f"{run_dir} already holds a run{latest}: pass --resume to continue it from its "
                      f"latest checkpoint, --overwrite to delete it and start over, or another --name")


def prepare_windows(cfg: Config, info):
    """Ray Data windows (train/val/test) for ``cfg.data``, from an inspected dataset."""
    from lstmgan_ray.data import prepare_datasets

    return prepare_datasets(cfg.data.model_dump(), info.features, info.transforms, info.read_columns,
                            deterministic=cfg.train.deterministic)


def steps_per_epoch(cfg: Config, counts: dict[str, int]) -> int:
    """Global steps per epoch; refuses splits too small for one global batch or one window per worker."""
    from lstmgan_ray.data import DataError

    batch = cfg.train.batch_size
    steps = counts["train"] // batch
    if steps == 0:
        raise DataError(f"{cfg.data.path}: {counts['train']} training windows, fewer than "
                        f"one global batch ({batch}); lower train.batch_size or add data")
    if counts["val"] < cfg.run.max_workers:
        raise DataError(f"{cfg.data.path}: {counts['val']} validation windows, fewer than "
                        f"the {cfg.run.max_workers} workers; adjust data.splits")
    return steps


def make_trainer(resolved: dict[str, Any], prepared, *, storage_path: str, name: str,
                 callbacks: list, resume_from: str | None = None, launched_at: float | None = None):
    """The TensorflowTrainer for one run: the same for ``jobs/train.py`` and every sweep trial.

    Args:
        resolved: the run's config as a dict (``Config.to_dict()``), shipped to every worker.
        prepared: the ``Prepared`` windows; train and val are split over the workers.
        storage_path, name: where Ray Train keeps the run (and finds it again to resume).
        callbacks: Ray Train ``UserCallback``s (progress files, Tune reporting).
        resume_from: a checkpoint directory to start from.
        launched_at: when the command started (Unix time); the first epoch then reports
            ``startup_s``, the seconds from it to the first finished training step.
    """
    import ray.train
    from ray.data import ExecutionOptions
    from ray.train.tensorflow import TensorflowTrainer

    from lstmgan_ray.fault_points import pause_spec_from_env

    cfg = Config.from_dict(resolved)
    run = cfg.run
    per_worker = {"CPU": run.cpus_per_worker, **({"GPU": run.gpus_per_worker} if run.use_gpu else {})}
    return TensorflowTrainer(
        train_loop_per_worker,
        train_loop_config={"cfg": resolved, "scaler": prepared.scaler,
                           "steps_per_epoch": steps_per_epoch(cfg, prepared.counts),
                           "resume_from": resume_from, "pause": pause_spec_from_env(),
                           "launched_at": launched_at},
        scaling_config=ray.train.ScalingConfig(
            num_workers=run.num_workers, use_gpu=run.use_gpu, resources_per_worker=per_worker,
            elastic_resize_monitor_interval_s=run.elastic_resize_interval_s),
        run_config=ray.train.RunConfig(
            name=name, storage_path=storage_path,
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=run.keep_checkpoints, checkpoint_score_attribute="val_rmse",
                checkpoint_score_order="min"),
            failure_config=ray.train.FailureConfig(max_failures=run.max_failures,
                                                   max_preemption_failures=run.max_preemption_failures),
            callbacks=callbacks),
        datasets={"train": prepared.train, "val": prepared.val},
        dataset_config=ray.train.DataConfig(
            datasets_to_split=["train", "val"],
            execution_options=ExecutionOptions(preserve_order=cfg.train.deterministic)),
    )


def run_training(cfg: Config, *, resume_from: str | None = None, resume: bool = False,
                 overwrite: bool = False, verbose: bool = True) -> TrainingOutcome:
    """Validate, prepare data with Ray Data, train with a TensorflowTrainer, return the outcome.

    Args:
        cfg: the validated config; ``run.name`` is filled in when empty.
        resume_from: a checkpoint directory to continue from (weights, optimizers, epoch).
        resume: continue the run already at ``<storage_path>/<name>`` from its latest checkpoint.
        overwrite: delete what is at ``<storage_path>/<name>`` and start over.
        verbose: print one progress line per epoch.
    """
    from lstmgan_ray.checkpoint import check_compatible, verify_checkpoint
    from lstmgan_ray.validate import inspect_dataset

    cfg = cfg.model_copy(deep=True)
    if not cfg.run.name:
        cfg.run.name = default_run_name()
    storage = resolve_storage_path(cfg.run.storage_path)
    info = inspect_dataset(cfg.data.model_dump())
    if resume_from:
        resume_from = resolve_storage_path(resume_from)
        verify_checkpoint(resume_from)
        check_compatible(resume_from, cfg.to_dict(), info.features)
    claim_run_dir(f"{storage}/{cfg.run.name}", resume=resume, overwrite=overwrite)

    from lstmgan_ray.cluster_checks import ensure_resources

    ensure_resources(cfg.run, local=init_ray(), verbose=verbose)
    from lstmgan_ray.progress import ProgressCallback

    if verbose:
        print(f"preparing windows from {len(info.files)} file(s), {info.num_rows} rows, "
              f"{len(info.features)} features", flush=True)
    prepared = prepare_windows(cfg, info)
    steps = steps_per_epoch(cfg, prepared.counts)
    if verbose:
        print(f"windows: train={prepared.counts['train']} val={prepared.counts['val']} "
              f"test={prepared.counts['test']}; {steps} steps/epoch of {cfg.train.batch_size}", flush=True)
    resolved = cfg.to_dict()
    resolved["run"]["storage_path"] = storage
    trainer = make_trainer(resolved, prepared, storage_path=storage, name=cfg.run.name,
                           callbacks=[ProgressCallback(os.path.join(storage, cfg.run.name), verbose=verbose)],
                           resume_from=resume_from, launched_at=process_start_time())
    outcome = outcome_from_result(trainer.fit())
    raise_if_diverged(outcome, steps)
    return outcome


def raise_if_diverged(outcome: TrainingOutcome, steps: int) -> None:
    """Turn a run that stopped on a non-finite loss into an error naming the epoch and step."""
    diverged = [h for h in outcome.history if h.get("diverged_at_step")]
    if diverged:
        h = diverged[-1]
        raise TrainingDiverged(
            f"non-finite loss in epoch {h['epoch']} at step {h['diverged_at_step']} of {steps} "
            f"(d_loss={h['d_loss']}, g_loss={h['g_loss']}); training stopped. Lower "
            f"train.g_learning_rate/train.d_learning_rate or try train.loss=wgan-gp. "
            f"Best checkpoint before it: {outcome.best_checkpoint}")


def outcome_from_result(result) -> TrainingOutcome:
    """Pick the best (lowest val_rmse) checkpoint of a Ray Train result."""
    from lstmgan_ray.progress import read_history

    best = None
    for ckpt, metrics in result.best_checkpoints or []:
        if "preempted_at_step" in metrics:  # mid-epoch, never validated: a restart point, not a result
            continue
        if best is None or metrics.get("val_rmse", math.inf) < best[1].get("val_rmse", math.inf):
            best = (ckpt, metrics)
    run_dir = result.path
    history = read_history(run_dir)
    if best is None:
        return TrainingOutcome(None, run_dir, None, history)
    metrics = {k: best[1][k] for k in best[1] if k in METRIC_KEYS}
    return TrainingOutcome(best[0].path, run_dir, metrics, history)


def dumps_summary(outcome: TrainingOutcome) -> str:
    return json.dumps(outcome.summary(), default=float)
