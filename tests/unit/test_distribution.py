"""Forecast distributions against baselines: the scores on hand-checked and known cases."""

import numpy as np
from scipy.stats import norm

from lstmgan_ray.evaluate.distribution import (
    RECENT,
    baseline_draws,
    changes,
    distribution_scores,
    recent_sd,
    sample_crps,
)
from lstmgan_ray.evaluate.forecast_metrics import inside_interval


def test_sample_crps_matches_pairs_and_the_normal_closed_form():
    rng = np.random.default_rng(0)
    draws, real = rng.normal(size=(5, 7)), rng.normal(size=5)
    pairs = np.array([np.mean(np.abs(d - y)) - 0.5 * np.sum(np.abs(d[:, None] - d[None, :])) / (7 * 6)
                      for d, y in zip(draws, real)])
    np.testing.assert_allclose(sample_crps(real, draws), pairs)
    # Many draws from N(0, 1): the closed form, y * (2 Phi(y) - 1) + 2 phi(y) - 1 / sqrt(pi).
    y = np.array([0.0, 1.5])
    exact = y * (2 * norm.cdf(y) - 1) + 2 * norm.pdf(y) - 1 / np.sqrt(np.pi)
    np.testing.assert_allclose(sample_crps(y, rng.normal(size=(2, 20000))), exact, atol=0.01)


def test_changes_coverage_and_recent_volatility():
    np.testing.assert_allclose(changes(np.array([[110.0, 121.0]]), np.array([100.0]), "log_return"),
                               np.log([[1.1, 1.21]]))
    draws = np.random.default_rng(1).normal(size=(2, 1000))
    assert inside_interval(draws, np.array([0.0, 5.0])).tolist() == [True, False]
    past = np.arange(30, dtype=float)
    sd = recent_sd(past, np.array(["A"] * 30))
    assert np.isnan(sd[:RECENT]).all() and sd[RECENT] == np.std(past[:RECENT], ddof=1)


def test_baselines_draw_what_they_claim():
    train = {"A": np.array([-0.01, 0.02, 0.03]), "B": np.random.default_rng(2).normal(0.001, 0.02, 5000)}
    series = np.array(["A"] * 3 + ["B"] * 2)
    d = baseline_draws(train, series, np.array([np.nan] * 3 + [0.01, 0.05]), horizon=2, samples=4000, seed=0)
    assert set(np.unique(d["iid_bootstrap"][:3, :, 0])) <= set(train["A"])  # one-step draws are training returns
    second = np.round(d["iid_bootstrap"][:3, :, 1] - d["iid_bootstrap"][:3, :, 0], 12)
    assert set(np.unique(second)) <= set(np.round(train["A"], 12))  # and so is each later step
    assert abs(d["normal_train"][3:, :, 0].std() - 0.02) < 0.002
    assert abs(d["normal_recent"][4, :, 0].std() - 0.05) < 0.005
    assert abs(d["normal_recent"][3, :, 0].std() - 0.01) < 0.001


def test_a_calibrated_sampler_covers_ninety_percent_and_beats_a_too_wide_one():
    rng = np.random.default_rng(3)
    n, k = 400, 50
    sd = np.where(np.arange(n) % 100 < 50, 0.01, 0.03)  # calm and stormy months
    last = np.full(n, 100.0)
    ret = rng.normal(0, sd)
    windows = {"last": last, "future_actual": (last * np.exp(ret))[:, None], "series_id": np.array(["S"] * n)}
    sampled = last[:, None, None] * np.exp(rng.normal(0, sd[:, None, None], (n, k, 1)))
    train = {"S": rng.normal(0, 0.06, 2000)}  # a training era twice as stormy
    scores = distribution_scores(windows, sampled, train, "log_return")
    gan, boot = scores["models"]["gan"]["one_step"], scores["models"]["iid_bootstrap"]["one_step"]
    assert abs(gan["coverage90"] - 0.9) < 0.05 and boot["coverage90"] > 0.97
    assert gan["crps"] < boot["crps"] and scores["windows"] == n - RECENT
