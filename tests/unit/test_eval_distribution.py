"""The forecast-distribution table with the classical baselines, on series whose truth is known."""

import sys

import numpy as np
import pytest

from lstmgan_ray.evaluate.classical import GARCH_SKIPPED, SeriesHistory, fit_classical, forecast_draws
from lstmgan_ray.evaluate.distribution import MODEL_ORDER, distribution_scores, model_scores, pit_values
from lstmgan_ray.evaluate.forecast_metrics import nominal_coverage
from lstmgan_ray.evaluate.report import distribution_section
from tests.unit.test_classical_models import simulate


def test_the_pit_is_flat_for_a_calibrated_sampler_and_u_shaped_for_a_narrow_one():
    rng = np.random.default_rng(0)
    real = rng.normal(size=20000)
    right = np.histogram(pit_values(real, rng.normal(size=(20000, 19)), rng), bins=10, range=(0, 1))[0]
    narrow = np.histogram(pit_values(real, rng.normal(0, 0.5, (20000, 19)), rng), bins=10, range=(0, 1))[0]
    assert np.abs(right / 2000 - 1).max() < 0.1
    assert min(narrow[0], narrow[-1]) > 3 * max(narrow[4], narrow[5])
    ties = pit_values(np.zeros(20000), np.zeros((20000, 4)), rng)  # all draws equal the outcome
    assert np.abs(np.histogram(ties, bins=5, range=(0, 1))[0] / 4000 - 1).max() < 0.1


def test_volatility_ratio_and_per_step_crps():
    rng = np.random.default_rng(1)
    actual = rng.normal(0, 0.02, (3000, 2)).cumsum(axis=1)
    calm = rng.normal(0, 0.01, (3000, 40, 2)).cumsum(axis=2)
    right = rng.normal(0, 0.02, (3000, 40, 2)).cumsum(axis=2)
    series = np.array(["A", "B"] * 1500)
    s_calm, s_right = model_scores(calm, actual, series), model_scores(right, actual, series)
    assert s_calm["volatility_ratio"]["per_series"]["A"] == pytest.approx(2.0, rel=0.05)
    assert s_right["volatility_ratio"]["mean"] == pytest.approx(1.0, rel=0.05)
    assert len(s_right["horizon"]["crps_per_step"]) == 2
    assert s_right["horizon"]["crps_per_step"][1] < s_calm["horizon"]["crps_per_step"][1]


def _windows(returns: dict[str, np.ndarray], first: int, horizon: int):
    """Test windows of hand-made series: origins from step ``first`` on, prices from the log returns."""
    parts = []
    for sid, r in returns.items():
        price = 100 * np.exp(np.cumsum(r))
        origin = np.arange(first, len(r) - horizon)
        parts.append({"series_id": np.array([sid] * len(origin), object), "last": price[origin],
                      "future_actual": price[origin[:, None] + 1 + np.arange(horizon)],
                      "origin": TIMES[origin]})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


TIMES = (np.datetime64("2000-01-03", "D") + np.arange(5000)).astype("datetime64[us]")


@pytest.fixture(scope="module")
def garch_world():
    """Two GARCH(1,1)-t series; the 'GAN' draws from a normal with the training sd (3x too wide for B)."""
    pytest.importorskip("arch")
    returns = {"A": simulate(5000, seed=21), "B": simulate(5000, seed=22)}
    history = {sid: SeriesHistory(r, TIMES, n_train=4000) for sid, r in returns.items()}
    windows = _windows(returns, 4000, horizon=2)
    rng = np.random.default_rng(5)
    width = np.where(windows["series_id"] == "A", 1.0, 3.0) * np.where(
        windows["series_id"] == "A", returns["A"][:4000].std(), returns["B"][:4000].std())
    sampled = windows["last"][:, None, None] * np.exp(rng.normal(0, width[:, None, None], (len(width), 40, 2))
                                                      .cumsum(axis=2))
    return returns, history, windows, sampled


def test_garch_wins_on_garch_data_and_the_report_says_where_the_gan_loses(garch_world):
    returns, history, windows, sampled = garch_world
    classical = fit_classical(history)
    drawn = forecast_draws(classical, windows["series_id"], windows["origin"], 40, 2, seed=0)
    train = {sid: h.train for sid, h in history.items()}
    d = distribution_scores(windows, sampled, train, "log_return", classical=drawn)
    assert list(d["models"]) == list(MODEL_ORDER) and d["horizon"] == 2 and not d["skipped"]
    garch = d["models"]["garch_t"]
    for other in ("gan", "iid_bootstrap", "block_bootstrap", "normal_train"):
        assert garch["one_step"]["crps"] < d["models"][other]["one_step"]["crps"], other
    # Calibrated: with K = 40 draws the interval between the 2nd smallest and 2nd largest holds a
    # calibrated model's outcome with probability 37 / 41.
    assert garch["one_step"]["coverage90"] == pytest.approx(nominal_coverage(40), abs=0.03)
    assert nominal_coverage(40) == pytest.approx(37 / 41) and nominal_coverage(59) == pytest.approx(0.9)
    assert garch["volatility_ratio"]["mean"] == pytest.approx(1.0, abs=0.08)
    realised_over_drawn = returns["B"][4001:].std() / (3 * returns["B"][:4000].std())
    assert d["models"]["gan"]["volatility_ratio"]["per_series"]["B"] == pytest.approx(realised_over_drawn, rel=0.03)
    assert sum(d["pit"]["per_series"]["A"]["garch_t"]) == d["windows"] // 2

    text = "\n".join(s for s in distribution_section(d) if s)
    lines = {line[2:3]: line for line in text.splitlines() if line.startswith("- ")}
    assert "**loses to**" in lines["A"] and "GARCH(1,1)-t" in lines["A"]
    assert "CRPS of the cumulative return" in lines["A"]  # horizon 2: the cumulative return is judged too
    assert "**outside [0.85, 0.95]** (too wide)" in lines["B"]
    assert "| GARCH(1,1)-t, variance filtered to the window |" in text


def test_without_arch_the_garch_rows_are_skipped_and_the_report_says_so(garch_world, monkeypatch):
    returns, history, windows, sampled = garch_world
    monkeypatch.setitem(sys.modules, "arch", None)
    classical = fit_classical(history)
    drawn = forecast_draws(classical, windows["series_id"], windows["origin"], 40, 2, seed=0)
    d = distribution_scores(windows, sampled, {sid: h.train for sid, h in history.items()}, "log_return",
                            classical=drawn, skipped={"garch_t": classical.skipped})
    assert "garch_t" not in d["models"] and "block_bootstrap" in d["models"]
    assert set(d["pit"]["per_series"]["A"]) == {"gan"}
    assert GARCH_SKIPPED in "\n".join(s for s in distribution_section(d) if s)
