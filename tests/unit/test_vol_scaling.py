"""Volatility scaling (``data.vol_scaling: ewma``): the windows, their inversion, and the rollout that carries it."""

import numpy as np
import pytest
import tensorflow as tf

from lstmgan_ray.data import make_spec, series_stats, series_windows
from lstmgan_ray.data.windows import VolFilter
from lstmgan_ray.evaluate.generate import rollout
from lstmgan_ray.model.gan import window_scale
from tests.helpers import make_series

T, H = 5, 2


def _spec(scaling: str, features=("close",)) -> dict:
    cfg = {"timestamp_column": "timestamp", "series_column": "series_id", "target": "close",
           "input_dim": T, "output_dim": H, "splits": (0.6, 0.2, 0.2), "nan_policy": "error",
           "vol_scaling": scaling, "vol_decay": 0.9, "vol_reversion": 0.05}
    return make_spec(cfg, list(features), {c: "log_return" for c in features})


@pytest.mark.parametrize("reversion", [0.0, 0.05])
def test_vol_filter_follows_its_recursion_from_unit_variance(reversion):
    z = np.random.default_rng(0).standard_normal(200) * np.linspace(0.5, 3.0, 200)
    var, ref = 1.0, []
    for value in z:
        var = reversion + 0.1 * value**2 + (0.9 - reversion) * var
        ref.append(np.sqrt(var))
    vf = VolFilter(0.9, reversion)
    np.testing.assert_allclose(vf.series(z), ref)
    np.testing.assert_allclose(vf.step(np.array(ref[:-1]), z[1:]), ref[1:])


def test_reversion_keeps_a_quiet_rollout_from_vanishing():
    quiet = np.zeros(2000)  # a generator that stops moving: EWMA decays to nothing, GARCH to its floor
    assert VolFilter(0.94).series(quiet)[-1] < 1e-20
    np.testing.assert_allclose(VolFilter(0.94, 0.01).series(quiet)[-1], np.sqrt(0.01 / (1 - 0.93)), rtol=1e-6)


def test_scaled_windows_divide_the_target_by_the_volatility_at_their_last_step():
    frame = make_series("S", 120, 100.0, seed=3)
    features = ("open", "close")
    plain_spec, vol_spec = _spec("none", features), _spec("ewma", features)
    stats = series_stats(frame, plain_spec)
    plain, scaled = series_windows(frame, plain_spec, stats), series_windows(frame, vol_spec, stats)
    ti = vol_spec["target_index"]
    np.testing.assert_array_equal(plain["vol"], 1.0)
    assert scaled["vol"].std() > 0  # a real, varying scale
    np.testing.assert_allclose(scaled["x"][:, :, ti] * scaled["vol"][:, None], plain["x"][:, :, ti], rtol=1e-5)
    np.testing.assert_allclose(scaled["y"] * scaled["vol"][:, None], plain["y"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(scaled["x"][:, :, 1 - ti], plain["x"][:, :, 1 - ti])  # other features as they were
    # The scale only uses the past: the first windows' volatility is the recursion over their own steps.
    z_all = plain["x"][0, :, ti]
    np.testing.assert_allclose(scaled["vol"][0], VolFilter(0.9, 0.05).series(z_all)[-1], rtol=1e-5)
    # What the GAN multiplies scaled values by to get back changes: the series' sd times the window's vol.
    feats = {"sd": tf.constant(scaled["sd"]), "vol": tf.constant(scaled["vol"])}
    np.testing.assert_allclose(window_scale(feats, tf.float64).numpy(), scaled["sd"] * scaled["vol"])
    np.testing.assert_allclose(window_scale({"sd": tf.constant(scaled["sd"])}, tf.float64).numpy(), scaled["sd"])


def test_rollout_carries_the_volatility_through_generated_values():
    shown = []

    def step(window, _index):  # always says "two units of this window's scale"
        shown.append(window.copy())
        return np.full((len(window), 1), 2.0, np.float32)

    x = np.full((1, 3, 1), 0.5, np.float32)
    vf = VolFilter(0.9, 0.05)
    out = rollout(step, x, np.zeros((1, 1), np.float32), steps=3, target_index=0, vol=np.array([2.0]), vol_filter=vf)
    scales = [2.0]
    for _ in range(2):
        scales.append(float(vf.step(np.array([scales[-1]]), np.array([2.0 * scales[-1]]))[0]))
    # Each generated value comes back in the series' scale (x its window's vol), and the vol grows with them.
    np.testing.assert_allclose(out[0], [2.0 * s for s in scales], rtol=1e-6)
    # The second window shown: the first rows' real values (0.5 x 2) and the generated one, over the new vol.
    np.testing.assert_allclose(shown[1][0, :, 0], np.array([1.0, 1.0, 2.0 * scales[0]]) / scales[1], rtol=1e-6)
    # Without a filter the scale stays put, and without vol the rollout is the plain one.
    plain = rollout(step, x, np.zeros((1, 1), np.float32), steps=3, target_index=0)
    np.testing.assert_array_equal(plain, [[2.0, 2.0, 2.0]])


def test_vol_input_adds_the_log_volatility_after_every_step_as_a_last_channel():
    frame = make_series("S", 120, 100.0, seed=3)
    features = ("open", "close")
    spec = _spec("ewma", features)
    with_vol = {**spec, "vol_input": True}
    stats = series_stats(frame, spec)
    plain, extra = series_windows(frame, spec, stats), series_windows(frame, with_vol, stats)
    assert extra["x"].shape == (*plain["x"].shape[:2], 3)
    np.testing.assert_array_equal(extra["x"][:, :, :2], plain["x"])
    # The last step's channel is the log of the scale the window is divided by; earlier steps are the
    # filter's values after them, so the channel of window i+1 is that of window i shifted by one.
    np.testing.assert_allclose(np.exp(extra["x"][:, -1, 2]), extra["vol"], rtol=1e-5)
    same_split = extra["split"][:-1] == extra["split"][1:]
    np.testing.assert_allclose(extra["x"][1:, :-1, 2][same_split], extra["x"][:-1, 1:, 2][same_split])
    # A data section without the filter cannot ask for its volatility.
    from lstmgan_ray.config.schema import DataSection

    with pytest.raises(ValueError, match="vol_input needs vol_scaling"):
        DataSection(vol_input=True, vol_scaling="none")


def test_rollout_writes_the_carried_volatility_into_the_vol_channel():
    shown = []

    def step(window, _index):
        shown.append(window.copy())
        return np.full((len(window), 1), 2.0, np.float32)

    x = np.zeros((1, 3, 2), np.float32)
    x[:, :, 0], x[:, :, 1] = 0.5, np.log(2.0)
    vf = VolFilter(0.9, 0.05)
    rollout(step, x, np.zeros((1, 2), np.float32), steps=3, target_index=0, vol=np.array([2.0]), vol_filter=vf,
            vol_index=1)
    after_first = float(vf.step(np.array([2.0]), np.array([4.0]))[0])
    after_second = float(vf.step(np.array([after_first]), np.array([2.0 * after_first]))[0])
    np.testing.assert_allclose(shown[1][0, :, 1], np.log([2.0, 2.0, after_first]), rtol=1e-6)
    np.testing.assert_allclose(shown[2][0, :, 1], np.log([2.0, after_first, after_second]), rtol=1e-6)
    # The target channel is still divided by the current scale, as without the channel.
    np.testing.assert_allclose(shown[2][0, -1, 0], 2.0 * after_first / after_second, rtol=1e-6)
