"""The evaluation's metrics on hand-checked inputs: forecast errors, stylised facts, the TimeGAN
scores, without Ray."""


import numpy as np
import pytest

from lstmgan_ray.evaluate.report import forecast_section
from lstmgan_ray.evaluate.scoring import forecast_metrics
from lstmgan_ray.evaluate.synthetic_metrics import (
    acf,
    discriminative_score,
    predictive_mae,
    split_windows,
    stylised_facts,
)

# A tiny series checked by hand: four windows, one step ahead.
LAST = np.array([100.0, 102.0, 101.0, 103.0])
ACTUAL = np.array([102.0, 101.0, 103.0, 103.0])  # moves: up, down, up, none
GAN = np.array([101.0, 101.5, 102.0, 104.0])  # errors -1, 0.5, -1, 1; directions up, down, up (, up)
SUPERVISED = np.array([99.0, 103.0, 100.0, 103.0])  # errors -3, 2, -3, 0; every direction wrong


def test_forecast_metrics_and_baselines_on_a_hand_checked_series():
    windows = {"last": LAST, "future_actual": ACTUAL[:, None], "series_id": np.array(["S"] * 4, object)}
    sampled = GAN[:, None, None] + np.array([-0.9, 0.0, 0.9])[None, :, None]  # 3 draws: the band is min..max
    f = forecast_metrics(windows, sampled, GAN[:, None], SUPERVISED[:, None])
    p, g, s = f["models"]["persistence"], f["models"]["gan"], f["models"]["supervised"]
    assert p["rmse"] == pytest.approx(1.5)  # sqrt((4 + 1 + 4 + 0) / 4)
    assert p["mae"] == pytest.approx(1.25)
    assert p["mape"] == pytest.approx(25 * (2 / 102 + 1 / 101 + 2 / 103))
    assert p["directional_accuracy"] is None and p["up_forecasts"] == 0  # persistence never predicts a move
    assert g["rmse"] == pytest.approx(np.sqrt(3.25 / 4)) and g["mae"] == pytest.approx(0.875)
    assert g["directional_accuracy"] == 1.0  # 3 of the 3 moves; the flat step does not count
    assert g["up_forecasts"] == 0.75 and f["models"]["supervised"]["up_forecasts"] == 0.25
    assert s["rmse"] == pytest.approx(np.sqrt(22 / 4)) and s["mae"] == pytest.approx(2.0)
    assert s["directional_accuracy"] == 0.0
    assert f["up_share"] == pytest.approx(2 / 3)
    assert f["gan_interval_coverage_90"] == 0.25  # only the 0.5 error lies inside +-0.9
    assert f["scored_steps"] == 4 and f["per_series"]["S"]["persistence"] == p
    better = {(v["baseline"], v["metric"]): v["better"] for v in f["verdicts"]}
    assert better[("persistence", "rmse")] == "gan" and better[("supervised", "directional_accuracy")] == "gan"
    assert better[("persistence", "directional_accuracy")] is None

    # A baseline that wins is said to win, in bold, with both numbers.
    lost = forecast_metrics(windows, sampled, SUPERVISED[:, None], GAN[:, None])
    text = "\n".join(forecast_section(lost))
    assert f"rmse: **persistence beats the GAN** (1.5 vs {np.sqrt(22 / 4):.6g})" in text
    assert "mae: **supervised beats the GAN** (0.875 vs 2)" in text


def test_autocorrelation_and_stylised_facts_by_hand():
    np.testing.assert_allclose(acf(np.array([1.0, -1, 1, -1]), 2), [-0.75, 0.5])  # -3/4, 2/4
    rng = np.random.default_rng(0)
    heavy = rng.standard_t(3, 4000) * 0.01
    same = stylised_facts(heavy, [heavy, heavy])
    assert same["ks_statistic"] == 0 and same["acf_abs_returns_mean_abs_diff"] == 0
    normal = [rng.normal(0, 0.01, 4000) for _ in range(3)]
    facts = stylised_facts(heavy, normal, max_lag=5)
    assert facts["kurtosis_real"] > 2 > abs(facts["kurtosis_synthetic"])
    assert facts["ks_pvalue"] < 0.01 and len(facts["acf_abs_returns_synthetic"]) == 5


def test_split_windows_keep_held_out_steps_unseen():
    fit, held = split_windows([np.arange(10.0), np.arange(100.0, 120.0)], length=3, holdout=0.2)
    assert fit.shape == (6 + 14, 3) and held.shape == (0 + 2, 3)  # 10 -> 8 | 2 steps; 20 -> 16 | 4
    assert set(held[:, 0]) == {116.0, 117.0} and fit.max() < 116


@pytest.fixture(scope="module")
def sines():
    """TimeGAN's sine data: 96 sequences of random frequency and phase, cut into two halves of 48;
    the first half's values shuffled across time and sequences make noise with the same histogram."""
    rng = np.random.default_rng(1)
    t = np.arange(80)
    real = [np.sin(rng.uniform(0.1, 0.4) * t + rng.uniform(0, np.pi)) for _ in range(96)]
    noise = list(rng.permutation(np.concatenate(real[:48])).reshape(48, 80))
    return {name: split_windows(seqs, length=12) for name, seqs in
            (("real", real[:48]), ("other", real[48:]), ("noise", noise))}


def test_discriminative_score_is_near_zero_real_vs_real_and_near_half_for_noise(sines):
    (real_fit, real_held), (other_fit, other_held), (noise_fit, noise_held) = (
        sines["real"], sines["other"], sines["noise"])
    alike = discriminative_score(real_fit, other_fit, real_held, other_held, epochs=6)
    apart = discriminative_score(real_fit, noise_fit, real_held, noise_held, epochs=6)
    assert alike["held_out_windows_per_class"] == 48 * 5
    assert alike["discriminative_score"] < 0.1, alike
    assert apart["discriminative_score"] > 0.4, apart


def test_predictive_score_train_on_noise_is_worse_than_train_on_real(sines):
    (real_fit, real_held), (other_fit, _), (noise_fit, _) = sines["real"], sines["other"], sines["noise"]
    trtr = predictive_mae(real_fit, real_held, epochs=6)
    assert predictive_mae(other_fit, real_held, epochs=6) < 1.5 * trtr
    assert predictive_mae(noise_fit, real_held, epochs=6) > 3 * trtr
