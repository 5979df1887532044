"""Device policy on a worker: mixed precision, XLA and LSTM unrolling, decided from the hardware.

Each choice was measured (``make bench``); ``auto`` picks what was faster without
changing results, and every rule is a pure function of flags so tests can check it.
"""

from __future__ import annotations

import tensorflow as tf

UNROLL_MAX_STEPS = 32


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
