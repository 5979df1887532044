"""The classical baselines on series whose truth is known: a GARCH(1,1)-t simulated here, seeded."""

import sys

import numpy as np
import pytest
from scipy import stats

from lstmgan_ray.evaluate.classical import (
    BLOCK,
    GARCH_SKIPPED,
    SCALE,
    SeriesHistory,
    fit_classical,
    forecast_draws,
    garch_missing,
    next_variance,
    scenario_draws,
    stationary_bootstrap,
)

TRUE = {"mu": 0.03, "omega": 0.02, "alpha": 0.08, "beta": 0.9, "nu": 6.0}  # percent returns


def simulate(n: int, seed: int, burn: int = 500) -> np.ndarray:
    """A GARCH(1,1)-t path by its textbook recursion (independent of the code under test), as log returns."""
    p = TRUE
    z = np.random.default_rng(seed).standard_t(p["nu"], n + burn) * np.sqrt((p["nu"] - 2) / p["nu"])
    sigma2, out = p["omega"] / (1 - p["alpha"] - p["beta"]), np.empty(n + burn)
    for t in range(n + burn):
        shock = np.sqrt(sigma2) * z[t]
        out[t] = p["mu"] + shock
        sigma2 = p["omega"] + p["alpha"] * shock ** 2 + p["beta"] * sigma2
    return out[burn:] / SCALE


@pytest.fixture(scope="module")
def series():
    returns = simulate(5000, seed=11)
    times = np.datetime64("2000-01-03", "D") + np.arange(len(returns))
    return SeriesHistory(returns, times.astype("datetime64[us]"), n_train=4000)


@pytest.fixture(scope="module")
def classical(series):
    pytest.importorskip("arch")
    return fit_classical({"S": series})


def test_garch_fit_recovers_the_simulated_parameters(classical):
    fit = classical.garch["S"]
    assert fit.converged and fit.observations == 4000  # the training split only
    assert abs(fit.alpha - TRUE["alpha"]) < 0.05 and abs(fit.beta - TRUE["beta"]) < 0.05
    assert abs(fit.persistence - (TRUE["alpha"] + TRUE["beta"])) < 0.02
    assert 4 < fit.nu < 9  # heavy tails found, not a normal (nu -> infinity)
    assert fit.summary()["half_life_steps"] > 10


def test_the_filtered_variance_uses_the_past_only_and_matches_arch(classical, series):
    fit, variance = classical.garch["S"], classical.variance["S"]
    origin = 4500
    changed = series.returns.copy()
    changed[origin + 1:] *= 5  # a different future must not change the variance forecast made at the origin
    assert next_variance(fit, changed)[origin] == pytest.approx(variance[origin], rel=1e-9)
    from arch import arch_model

    fixed = arch_model(SCALE * series.returns, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fix(fit.params())
    arch_forecast = fixed.forecast(horizon=1, start=origin, reindex=False).variance.to_numpy()[:, 0]
    np.testing.assert_allclose(variance[origin:], arch_forecast, rtol=1e-8)


def test_forecast_draws_have_the_volatility_filtered_at_their_origin(classical, series):
    rows = np.arange(4000, 5000)
    calm, storm = rows[np.argmin(classical.variance["S"][rows])], rows[np.argmax(classical.variance["S"][rows])]
    origins = series.times[[calm, storm]]
    draws = forecast_draws(classical, np.array(["S", "S"]), origins, paths=20000, horizon=3, seed=0)
    assert set(draws) == {"block_bootstrap", "garch_t"} and draws["garch_t"].shape == (2, 20000, 3)
    model_sd = np.sqrt(classical.variance["S"][[calm, storm]]) / SCALE
    np.testing.assert_allclose(draws["garch_t"][:, :, 0].std(axis=1), model_sd, rtol=0.04)
    assert stats.kurtosis(draws["garch_t"][0, :, 0]) > 1  # Student-t shocks: fat tails
    # Later steps drift back towards the unconditional variance: up from calm, down from the storm.
    assert draws["garch_t"][0, :, 2].std() > draws["garch_t"][0, :, 0].std()
    assert draws["garch_t"][1, :, 2].std() < draws["garch_t"][1, :, 0].std()
    again = forecast_draws(classical, np.array(["S", "S"]), origins, paths=20000, horizon=3, seed=0)
    np.testing.assert_array_equal(again["garch_t"], draws["garch_t"])


def test_long_garch_scenarios_start_at_the_origin_and_settle_at_the_long_run_volatility(classical, series):
    origin = series.times[4100]
    paths = scenario_draws(classical, {"S": origin}, paths=400, steps={"S": 600})
    fit = classical.garch["S"]
    assert paths["garch_t"]["S"].shape == paths["block_bootstrap"]["S"].shape == (400, 600)
    first = paths["garch_t"]["S"][:, 0].std()
    assert first == pytest.approx(np.sqrt(classical.variance["S"][4100]) / SCALE, rel=0.15)
    long_run = np.sqrt(fit.omega / (1 - fit.persistence)) / SCALE
    assert paths["garch_t"]["S"][:, 400:].std() == pytest.approx(long_run, rel=0.15)


def test_the_block_bootstrap_resamples_contiguous_blocks_of_training_returns():
    train = np.random.default_rng(4).normal(size=3000)
    draws = stationary_bootstrap(train, paths=200, steps=250, rng=np.random.default_rng(0))
    assert draws.shape == (200, 250) and np.isin(draws, train).all()  # the marginal is the training one
    where = {v: i for i, v in enumerate(train)}
    index = np.vectorize(where.get)(draws)
    follows = np.diff(index, axis=1) % len(train) == 1  # the next draw is the next training return
    assert abs(follows.mean() - (1 - 1 / BLOCK)) < 0.01  # blocks break with probability 1 / BLOCK
    np.testing.assert_array_equal(draws, stationary_bootstrap(train, 200, 250, np.random.default_rng(0)))
    assert not np.array_equal(draws, stationary_bootstrap(train, 200, 250, np.random.default_rng(1)))


def test_the_block_bootstrap_draws_only_training_returns_for_forecasts(series, monkeypatch):
    monkeypatch.setitem(sys.modules, "arch", None)  # as if the eval extra were not installed
    assert garch_missing() == GARCH_SKIPPED
    c = fit_classical({"S": series})
    assert c.skipped == GARCH_SKIPPED and c.models() == ("block_bootstrap",) and not c.garch
    draws = forecast_draws(c, np.array(["S"] * 3), series.times[[4000, 4500, 4999]], paths=50, horizon=4)
    assert set(draws) == {"block_bootstrap"} and draws["block_bootstrap"].shape == (3, 50, 4)
    assert np.isin(draws["block_bootstrap"], series.train).all()
    with pytest.raises(RuntimeError, match="not a step"):
        series.rows(np.array([np.datetime64("1999-01-01")]))
