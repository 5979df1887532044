"""Profiles and speed settings: preset layering, the learning-rate rule, the precision choice.
Nothing here trains: these are config checks and a few eager tensor operations."""

from pathlib import Path

import numpy as np
import pytest

from lstmgan_ray.config import Config, ConfigError, available_profiles, load_config, read_config_file, resolve_profile
from tests.helpers import TINY_MODEL

ROOT = Path(__file__).resolve().parents[2]


PACKAGED_FAST = ROOT / "lstmgan_ray" / "config" / "profiles" / "fast.yaml"


def test_shipped_profile_is_the_only_copy():
    assert available_profiles() == ["default", "design", "auto", "cpu", "fast"]
    assert PACKAGED_FAST.is_file() and not (ROOT / "configs" / "fast.yaml").exists()


def test_auto_profile_is_cpu_sized_unless_the_workers_have_gpus(tmp_path):
    design = Config()
    cpu = load_config(profile=resolve_profile("auto"))
    assert resolve_profile("auto") == "cpu" and resolve_profile(None) == resolve_profile("default") == "default"
    assert cpu.model.generator_units == [w // 4 for w in design.model.generator_units]
    # Only the LSTM widths change: the Dense head, the discriminator and the training stay the design's.
    assert cpu.model.model_dump(exclude={"generator_units"}) == design.model.model_dump(exclude={"generator_units"})
    assert cpu.train == design.train and cpu.data == design.data
    assert resolve_profile("auto", **{"run.use_gpu": True}) == "default"
    path = tmp_path / "gpu.yaml"
    path.write_text("run:\n  use_gpu: true\n")
    assert resolve_profile("auto", path) == "default"
    assert resolve_profile("auto", None, ["run.use_gpu=true"]) == "default"
    assert load_config(profile="design") == design
    with pytest.raises(ConfigError, match="resolve_profile"):
        load_config(profile="auto")


def test_fast_profile_sits_under_the_file_the_sets_and_the_flags(tmp_path):
    fast = load_config(profile="fast")
    assert fast == Config.from_dict(read_config_file(PACKAGED_FAST)) == load_config(PACKAGED_FAST)
    assert fast.model.recurrent_dropout == 0 and fast.model.dropout > 0  # cuDNN-eligible
    assert fast.train.mixed_precision == "auto" and fast.train.jit_compile == "auto"
    assert fast.train.lr_scaling == "sqrt"
    assert fast.model.generator_units == Config().model.generator_units  # the design's networks
    assert load_config(profile="default") == load_config() == Config()

    path = tmp_path / "mine.yaml"
    path.write_text("model:\n  dropout: 0.1\ntrain:\n  epochs: 2\n")
    cfg = load_config(path, ["train.jit_compile=true", "train.mixed_precision=off"], profile="fast",
                      **{"train.epochs": 3})
    assert cfg.model.dropout == 0.1 and cfg.model.recurrent_dropout == 0  # file over profile, rest kept
    assert cfg.train.jit_compile is True and cfg.train.mixed_precision == "off"  # YAML's bare off -> "off"
    assert cfg.train.epochs == 3 and cfg.train.lr_scaling == "sqrt"


def test_unknown_profile_and_bad_speed_values_are_named():
    with pytest.raises(ConfigError, match="unknown profile 'fats'.*did you mean 'fast'"):
        load_config(profile="fats")
    for override, key in (("train.mixed_precision=half", "train.mixed_precision"),
                          ("train.jit_compile=sometimes", "train.jit_compile"),
                          ("train.lr_scaling=cubic", "train.lr_scaling"),
                          ("train.lr_reference_batch=0", "train.lr_reference_batch")):
        with pytest.raises(ConfigError, match=key):
            load_config(None, [override])


def test_tune_takes_the_profile_under_its_sweep_file():
    from lstmgan_ray.tune.sweep_file import default_sweep_file, load_sweep

    spec = load_sweep(default_sweep_file(), profile="fast")
    assert spec.base_config().model.recurrent_dropout == 0
    assert spec.base_config().train.mixed_precision == "auto"


@pytest.mark.parametrize("rule, factor", [("none", 1.0), ("linear", 4.0), ("sqrt", 2.0)])
def test_learning_rates_scale_with_the_global_batch(rule, factor):
    train = Config.from_dict({"model": TINY_MODEL, "train": {
        "batch_size": 512, "lr_scaling": rule, "lr_reference_batch": 128,
        "g_learning_rate": 1e-4, "d_learning_rate": 3e-4}}).train
    assert train.learning_rates() == pytest.approx((1e-4 * factor, 3e-4 * factor))


def test_precision_and_xla_choices():
    from lstmgan_ray.train.precision import cpu_has_native_bfloat16, precision_policy, use_xla

    assert precision_policy("off", True, True) is None
    assert precision_policy("auto", on_gpu=True, cpu_bf16=True) == "mixed_float16"
    assert precision_policy("auto", on_gpu=False, cpu_bf16=True) == "mixed_bfloat16"
    assert precision_policy("auto", on_gpu=False, cpu_bf16=False) is None
    assert precision_policy("bfloat16", False, False) == "mixed_bfloat16"
    assert use_xla("auto", on_gpu=False) is False and use_xla("auto", on_gpu=True) == "auto"
    assert use_xla(True, False) is True and use_xla(False, True) is False
    assert isinstance(cpu_has_native_bfloat16(), bool)


def test_unroll_choice_follows_window_length_and_cudnn():
    from lstmgan_ray.train.build import build_gan
    from lstmgan_ray.train.precision import UNROLL_MAX_STEPS, use_unroll

    assert use_unroll("auto", 3, cudnn=False) and use_unroll("auto", UNROLL_MAX_STEPS, cudnn=False)
    assert not use_unroll("auto", UNROLL_MAX_STEPS + 1, cudnn=False)
    assert not use_unroll("auto", 3, cudnn=True)  # cuDNN's fused kernel needs the loop
    assert use_unroll(True, 500, cudnn=True) and not use_unroll(False, 3, cudnn=False)
    scaler = {"features": ["a", "close"], "target_index": 1}
    for setting, window, unrolled in (("auto", 4, True), ("auto", 40, False), (False, 4, False)):
        raw = {"data": {"input_dim": window}, "model": TINY_MODEL, "train": {"unroll": setting}}
        gan = build_gan(Config.from_dict(raw).to_dict(), scaler)  # this CPU: no cuDNN
        assert [gan.generator.get_layer(f"lstm_{i}").unroll for i in (0, 1)] == [unrolled] * 2, (setting, window)


def test_cpu_flags_decide_native_bfloat16(tmp_path):
    from lstmgan_ray.train.precision import cpu_bfloat16_for_auto, cpu_has_native_bfloat16

    with_bf16, amx, without = tmp_path / "a", tmp_path / "amx", tmp_path / "b"
    with_bf16.write_text("processor : 0\nflags : fpu sse avx2 avx512f avx512_bf16\n")
    amx.write_text("processor : 0\nflags : fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    without.write_text("processor : 0\nflags : fpu sse avx2 avx512f\n")
    assert cpu_has_native_bfloat16(str(with_bf16)) and not cpu_has_native_bfloat16(str(without))
    assert not cpu_has_native_bfloat16(str(tmp_path / "missing"))
    # auto trains in bfloat16 with AVX512_BF16 only: AMX's kernels gave NaN losses (train.py).
    assert cpu_bfloat16_for_auto(str(with_bf16)) and cpu_has_native_bfloat16(str(amx))
    assert not cpu_bfloat16_for_auto(str(amx)) and not cpu_bfloat16_for_auto(str(without))


def test_mixed_precision_builds_float32_outputs_and_scaled_learning_rates():
    from lstmgan_ray.model.gan import SyncedLossScaleOptimizer
    from lstmgan_ray.train.build import build_gan

    raw = {"data": {"input_dim": 4}, "model": TINY_MODEL,
           "train": {"mixed_precision": "float16", "batch_size": 512, "lr_scaling": "sqrt"}}
    gan = build_gan(Config.from_dict(raw).to_dict(), {"features": ["a", "close"], "target_index": 1})
    assert gan.generator.get_layer("lstm_0").compute_dtype == "float16"
    assert gan.generator.get_layer("next_values").compute_dtype == "float32"
    assert gan.discriminator.get_layer("logit").compute_dtype == "float32"
    assert isinstance(gan.g_optimizer, SyncedLossScaleOptimizer)  # float16 needs loss scaling
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(6e-4)  # 3e-4 x sqrt(512 / 128)


def test_one_non_finite_gradient_poisons_all_so_every_worker_skips():
    import tensorflow as tf

    from lstmgan_ray.model.gan import skip_together

    fine = skip_together([tf.constant([1.0, 2.0]), None, tf.constant([[3.0]], tf.float16)])
    assert fine[1] is None and fine[2].dtype == tf.float16
    np.testing.assert_array_equal(fine[0].numpy(), [1.0, 2.0])
    poisoned = skip_together([tf.constant([1.0, np.inf]), None, tf.constant([[3.0]])])
    assert all(np.isnan(g.numpy()).all() for g in poisoned if g is not None)
    import keras

    from lstmgan_ray.model.gan import SyncedLossScaleOptimizer

    var = keras.Variable([1.0, 1.0])
    opt = SyncedLossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=8.0)
    opt.apply_gradients([(tf.constant([np.nan, 0.0]), var)])
    np.testing.assert_array_equal(var.numpy(), [1.0, 1.0])  # skipped, and the scale halved
    assert float(opt.dynamic_scale) == 4.0
    opt.apply_gradients([(tf.constant([4.0, 8.0]), var)])  # scaled gradients: unscaled by 4 first
    np.testing.assert_allclose(var.numpy(), [0.9, 0.8])
