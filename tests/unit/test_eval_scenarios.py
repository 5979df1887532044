"""Long scenarios: the stylised facts tell volatility clustering, fat tails and leverage apart, and the
GARCH and bootstrap scenarios are scored beside the GAN's on the same real windows."""

import numpy as np
import pytest

from lstmgan_ray.evaluate.classical import SeriesHistory, fit_classical
from lstmgan_ray.evaluate.report import scenario_section
from lstmgan_ray.evaluate.scenarios import ACF_LAGS, compare_scenarios, leverage, path_facts
from tests.unit.test_classical_models import simulate


def with_leverage(n: int, seed: int) -> np.ndarray:
    """A GJR-style series: falls raise the next day's variance, rises do not."""
    rng = np.random.default_rng(seed)
    out, s2 = np.empty(n), 1.0
    for t in range(n):
        out[t] = np.sqrt(s2) * rng.normal()
        s2 = 0.05 + 0.3 * (out[t] < 0) * out[t] ** 2 + 0.7 * s2
    return out


def test_leverage_clustering_and_tails_are_told_apart():
    rng = np.random.default_rng(0)
    iid = [rng.normal(0, 0.01, 2000) for _ in range(8)]
    garch = [simulate(2000, seed=s) for s in range(8)]
    a, b = path_facts(iid, train_sd=0.01), path_facts(garch, train_sd=0.01)
    assert abs(a["acf_abs_mean_1_10"]) < 0.03 < b["acf_abs_mean_1_10"]  # volatility clustering
    assert abs(a["excess_kurtosis"]) < 0.5 < b["excess_kurtosis"]  # fat tails
    assert a["volatility_ratio_to_training"] == pytest.approx(1.0, abs=0.03)
    assert len(a["acf_abs"]) == ACF_LAGS and len(a["leverage"]) == 10
    assert abs(b["leverage_mean_1_10"]) < 0.05  # a symmetric GARCH has no leverage effect
    assert np.mean([leverage(with_leverage(3000, s)).mean() for s in range(8)]) < -0.04
    short = path_facts([rng.normal(size=30)], train_sd=1.0)
    assert len(short["acf_abs"]) == 29  # no lag beyond the path


@pytest.fixture(scope="module")
def world():
    """Real test years from a GARCH(1,1)-t; the 'GAN' paths are iid normal at the training volatility."""
    pytest.importorskip("arch")
    returns = simulate(5000, seed=31)
    times = (np.datetime64("2000-01-03", "D") + np.arange(5000)).astype("datetime64[us]")
    classical = fit_classical({"S": SeriesHistory(returns, times, n_train=4000)})
    real = returns[4001:]
    mu, sd = returns[:4000].mean(), returns[:4000].std()
    synthetic = list(np.random.default_rng(1).normal(mu, sd, (12, len(real))))
    series = {"S": {"real": real, "synthetic": synthetic, "real_scaled": (real - mu) / sd,
                    "synthetic_scaled": [(p - mu) / sd for p in synthetic], "scale": (mu, sd)}}
    return classical, times[4000], series


def test_baseline_scenarios_are_scored_beside_the_gans(world, monkeypatch):
    """The classifier itself is tested in test_metrics; here, a stand-in records what it is given, so the
    plumbing (same real windows for every model, every seed, mean and sd) is checked in milliseconds."""
    classical, origin, series = world
    calls = []

    def classifier(real_fit, fake_fit, real_held, fake_held, *, epochs, seed):
        calls.append((real_fit, fake_fit, seed))
        score = 0.1 + 0.01 * seed + 0.1 * abs(np.abs(fake_fit).mean() - np.abs(real_fit).mean())
        return {"discriminative_score": score, "classifier_accuracy": 0.5 + score,
                "fit_windows_per_class": len(real_fit), "held_out_windows_per_class": len(real_held)}

    monkeypatch.setattr("lstmgan_ray.evaluate.scenarios.discriminative_score", classifier)
    gan = {"series_scored": ["S"], "discriminative": {"discriminative_score": 0.3}}
    sc, drawn = compare_scenarios(classical, {"S": origin}, series, gan, paths=12, seq_len=20, holdout=0.2,
                                  epochs=1, seeds=[3, 4, 5])
    assert {name: paths["S"].shape for name, paths in drawn.items()} == {"block_bootstrap": (12, 999),
                                                                         "garch_t": (12, 999)}
    assert set(sc["models"]) == {"gan", "block_bootstrap", "garch_t"} and sc["steps"] == {"S": 999}
    assert sc["models"]["gan"]["discriminative"] == gan["discriminative"]  # computed once, by synthetic_metrics
    assert [seed for *_, seed in calls] == [3, 4, 5, 3, 4, 5]
    assert all(np.array_equal(real, calls[0][0]) for real, *_ in calls)  # one set of real windows for all
    assert not np.array_equal(calls[0][1], calls[3][1])  # each baseline its own paths
    for name in ("block_bootstrap", "garch_t"):
        d = sc["models"][name]["discriminative"]
        assert d["discriminative_score"] == pytest.approx(np.mean(d["discriminative_score_per_seed"]))
        assert d["discriminative_score_sd"] == pytest.approx(np.std(d["discriminative_score_per_seed"], ddof=1))
        assert d["seeds"] == [3, 4, 5] and len(d["classifier_accuracy_per_seed"]) == 3
    facts = {name: m["per_series"]["S"] for name, m in sc["models"].items()}
    real = sc["real"]["S"]
    assert real["acf_abs_mean_1_10"] > 0.05 and facts["garch_t"]["acf_abs_mean_1_10"] > 0.05
    assert abs(facts["gan"]["acf_abs_mean_1_10"]) < 0.03  # iid paths: no clustering
    assert facts["garch_t"]["excess_kurtosis"] > facts["gan"]["excess_kurtosis"]
    assert facts["block_bootstrap"]["excess_kurtosis"] > facts["gan"]["excess_kurtosis"]
    assert sc["training_volatility"]["S"] == pytest.approx(series["S"]["scale"][1])

    text = "\n".join(b for b in scenario_section(sc) if b)
    assert "| S | real test years |" in text and "| S | GARCH(1,1)-t |" in text
    assert "- GARCH(1,1)-t: discriminative score" in text and "(3 seeds)" in text
    closest = next(line for line in text.splitlines() if line.startswith("- S, closest"))
    assert "ACF of abs. returns, lags 1-10: GAN" not in closest  # the iid paths are the furthest from real


def test_the_gans_discriminative_score_is_the_mean_over_classifier_seeds(monkeypatch):
    """``synthetic_metrics`` keeps its ``discriminative_score`` key, now the mean over seeds seed, seed + 1, ..."""
    from lstmgan_ray.evaluate import scoring

    monkeypatch.setattr("lstmgan_ray.evaluate.scenarios.discriminative_score",
                        lambda *a, epochs, seed: {"discriminative_score": 0.1 * seed, "classifier_accuracy": 0.6,
                                                  "fit_windows_per_class": 1, "held_out_windows_per_class": 1})
    monkeypatch.setattr(scoring, "predictive_scores", lambda *a, **k: {})
    rng = np.random.default_rng(2)
    real = rng.normal(size=200)
    series = {"S": {"real": real, "synthetic": [real], "real_scaled": real, "synthetic_scaled": [real]}}
    metrics, _ = scoring.synthetic_metrics(series, seq_len=10, holdout=0.2, max_lag=3, epochs=1, seed=2, paths=1,
                                           steps=200, classifier_seeds=3)
    d = metrics["discriminative"]
    assert d["seeds"] == [2, 3, 4] and d["discriminative_score"] == pytest.approx(0.3)
    assert d["discriminative_score_sd"] == pytest.approx(0.1)
