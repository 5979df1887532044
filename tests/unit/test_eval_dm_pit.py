"""The Diebold-Mariano test against its known cases, and the PIT figure from metrics alone."""

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from lstmgan_ray.evaluate.figures import pit_figure
from lstmgan_ray.evaluate.forecast_metrics import diebold_mariano, dm_against_persistence
from lstmgan_ray.evaluate.report import dm_sentence


def _overlapping_errors(rng, n: int, h: int) -> np.ndarray:
    """Errors of h-step forecasts made every step: sums of h shocks, so neighbours share h - 1 of them."""
    shocks = rng.normal(size=n + h)
    return np.convolve(shocks, np.ones(h), mode="valid")[:n]


def test_one_step_dm_with_the_hln_correction_is_the_paired_t_test():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=80) ** 2, (1.2 * rng.normal(size=80)) ** 2
    t = stats.ttest_1samp(a - b, 0.0)
    dm = diebold_mariano(a, b)
    assert dm["statistic"] == pytest.approx(t.statistic) and dm["pvalue"] == pytest.approx(t.pvalue)
    assert dm["observations"] == 80 and dm["mean_loss_difference"] == pytest.approx(np.mean(a - b))
    assert np.isnan(diebold_mariano(a, a)["statistic"])  # identical forecasts: nothing to test


@pytest.mark.parametrize("h", [1, 3])
def test_dm_holds_its_size_under_equal_accuracy_and_finds_a_better_forecast(h):
    rng = np.random.default_rng(h)
    rejected, found = [], []
    for _ in range(1000):
        a, b = _overlapping_errors(rng, 60, h), _overlapping_errors(rng, 60, h)
        rejected.append(diebold_mariano(a ** 2, b ** 2, horizon=h)["pvalue"] < 0.05)
        better = diebold_mariano((0.6 * a) ** 2, b ** 2, horizon=h)
        found.append(better["pvalue"] < 0.05 and better["statistic"] < 0)
    assert abs(np.mean(rejected) - 0.05) < 0.025  # the HLN-corrected test keeps its 5% size at n = 60
    assert np.mean(found) > 0.7


def test_dm_against_persistence_per_series_and_horizon_and_in_words():
    rng = np.random.default_rng(3)
    n = 200
    last = 100 + rng.normal(size=2 * n).cumsum()
    actual = last[:, None] + rng.normal(size=(2 * n, 2)).cumsum(axis=1)
    point = actual + 0.3 * rng.normal(size=actual.shape)  # much closer than the last value
    windows = {"future_actual": actual, "last": last, "series_id": np.array(["A"] * n + ["B"] * n, object)}
    dm = dm_against_persistence(windows, point)
    assert set(dm["per_series"]) == {"A", "B"} and set(dm["per_series"]["A"]) == {"one_step", "horizon"}
    assert dm["per_series"]["B"]["horizon"]["horizon"] == 2 and dm["per_series"]["A"]["one_step"]["observations"] == n
    assert all(t["statistic"] < 0 and t["pvalue"] < 1e-6 for s in dm["per_series"].values() for t in s.values())
    text = dm_sentence(dm)
    assert text.count("**the GAN is more accurate** at 5%") == 4 and "B, 2 steps ahead: DM" in text
    worse = dm_against_persistence(windows, actual + 3 * rng.normal(size=actual.shape))
    assert "**persistence is more accurate** at 5%" in dm_sentence(worse)


def test_the_pit_figure_draws_from_metrics_alone(tmp_path):
    pit = {"bins": 10, "per_series": {"A": {"gan": [5] * 10, "garch_t": list(range(10))}, "B": {"gan": [1] * 10}}}
    path = pit_figure(pit, str(tmp_path / "pit.png"))
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 300
