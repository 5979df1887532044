"""Long scenarios from the start of the test split: the GAN's against the classical baselines' and the real years.

A generator of market scenarios earns its cost only if its paths look more like the real
test years than a block bootstrap's or a GARCH(1,1)-t's do. Every model's paths (as many, as
long, from the same origin) are judged by the stylised facts of daily returns a quant checks
first, each against the real test years: the level of volatility (and its ratio to the
training years', since a model fitted there carries that level forward), fat tails (excess
kurtosis), volatility clustering (the autocorrelation of |r|, short and out to ``ACF_LAGS``),
and the leverage effect (a fall raises later volatility: corr(r_t, |r_t+k|) < 0). Then by
the TimeGAN discriminative score, repeated over several classifier seeds because one GRU's
accuracy on a few hundred windows moves by several points from seed to seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmgan_ray.evaluate.classical import Classical, scenario_draws
from lstmgan_ray.evaluate.extras import missing_package
from lstmgan_ray.evaluate.synthetic_metrics import acf, discriminative_score, split_windows

try:  # the eval extra
    from scipy import stats
except ImportError as err:
    raise missing_package("scipy", err) from err

ACF_LAGS = 100  # how far the |r| autocorrelation is drawn: volatility memory lasts months
SHORT_LAGS = 10  # the lags summarised as one number, for the ACF of |r| and the leverage effect


def leverage(r: np.ndarray, lags: int = SHORT_LAGS) -> np.ndarray:
    """corr(r_t, |r_{t+k}|) for k = 1..lags (NaN where a side is constant or too short)."""
    r = np.asarray(r, np.float64)
    out = np.full(lags, np.nan)
    for k in range(1, min(lags, len(r) - 2) + 1):
        a, b = r[:-k], np.abs(r[k:])
        if a.std() > 0 and b.std() > 0:
            out[k - 1] = np.corrcoef(a, b)[0, 1]
    return out


def path_facts(paths: list[np.ndarray], train_sd: float) -> dict[str, Any]:
    """The stylised facts of one series' paths (one path for the real years): the per-path statistic,
    then its median over paths (volatility, kurtosis) or mean (autocorrelations, leverage)."""
    paths = [np.asarray(p, np.float64) for p in paths]
    lags = max(1, min(ACF_LAGS, min(len(p) for p in paths) - 1))
    acf_abs = np.mean([acf(np.abs(p), lags) for p in paths], axis=0)
    lev = np.nanmean([leverage(p) for p in paths], axis=0) if len(paths[0]) > 3 else np.full(SHORT_LAGS, np.nan)
    vol = float(np.median([np.std(p) for p in paths]))
    return {"volatility": vol, "volatility_ratio_to_training": vol / train_sd,
            "excess_kurtosis": float(np.median([stats.kurtosis(p) for p in paths])),
            "acf_abs": acf_abs.tolist(), "acf_abs_mean_1_10": float(np.mean(acf_abs[:SHORT_LAGS])),
            "leverage": lev.tolist(), "leverage_mean_1_10": float(np.nanmean(lev)) if np.isfinite(lev).any()
            else float("nan")}


def discriminative_seeds(real_fit: np.ndarray, fake_fit: np.ndarray, real_held: np.ndarray, fake_held: np.ndarray,
                         *, seeds: list[int], epochs: int) -> dict[str, Any]:
    """``synthetic_metrics.discriminative_score`` once per classifier seed (subsample and weights alike):
    ``discriminative_score`` is the mean, with its sd over seeds and every seed's value."""
    runs = [discriminative_score(real_fit, fake_fit, real_held, fake_held, epochs=epochs, seed=s) for s in seeds]
    scores = [r["discriminative_score"] for r in runs]
    accuracy = [r["classifier_accuracy"] for r in runs]
    return {"discriminative_score": float(np.mean(scores)),
            "discriminative_score_sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
            "discriminative_score_per_seed": scores, "classifier_accuracy": float(np.mean(accuracy)),
            "classifier_accuracy_per_seed": accuracy, "seeds": list(seeds),
            "fit_windows_per_class": runs[0]["fit_windows_per_class"],
            "held_out_windows_per_class": runs[0]["held_out_windows_per_class"]}


def baseline_discriminative(series: dict[str, dict], baselines: dict[str, dict[str, np.ndarray]], *,
                            usable: list[str], seq_len: int, holdout: float, seeds: list[int],
                            epochs: int) -> dict[str, dict[str, Any]]:
    """Each baseline's discriminative score against the real test years, on the very real windows the
    GAN's is computed with, its paths scaled by the checkpoint's scaler as the GAN's are."""
    real_fit, real_held = split_windows([series[sid]["real_scaled"] for sid in usable], seq_len, holdout)
    out = {}
    for name, paths in baselines.items():
        scaled = [(p - series[sid]["scale"][0]) / series[sid]["scale"][1] for sid in usable for p in paths[sid]]
        fake_fit, fake_held = split_windows(scaled, seq_len, holdout)
        out[name] = discriminative_seeds(real_fit, fake_fit, real_held, fake_held, seeds=seeds, epochs=epochs)
    return out


def scenario_scores(series: dict[str, dict], baselines: dict[str, dict[str, np.ndarray]],
                    train_sd: dict[str, float]) -> dict[str, Any]:
    """Stylised facts per series of the real test years, the GAN's paths and each baseline's."""
    models = {"gan": {sid: s["synthetic"] for sid, s in series.items()},
              **{name: {sid: list(p) for sid, p in paths.items()} for name, paths in baselines.items()}}
    return {"training_volatility": dict(train_sd),
            "steps": {sid: len(s["real"]) for sid, s in series.items()},
            "real": {sid: path_facts([s["real"]], train_sd[sid]) for sid, s in series.items()},
            "models": {name: {"per_series": {sid: path_facts(p, train_sd[sid]) for sid, p in paths.items()}}
                       for name, paths in models.items()}}


def compare_scenarios(c: Classical, origins: dict[str, np.datetime64], series: dict[str, dict], gan: dict[str, Any],
                      *, paths: int, seq_len: int, holdout: float, epochs: int, seeds: list[int],
                      ) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """The classical baselines' long scenarios from the GAN's ``origins`` (each series' first test window),
    as many and as long as its paths, scored beside the GAN's (``gan``: its synthetic metrics) and the
    real test years.

    Returns:
        (the scores, the drawn paths: baseline -> series -> ``[paths, steps]`` changes), the paths
        for figures that show a baseline's scenario beside the GAN's.
    """
    drawn = scenario_draws(c, origins, paths, {sid: len(s["real"]) for sid, s in series.items()}, seed=seeds[0])
    out = scenario_scores(series, drawn, {sid: float(np.std(c.history[sid].train)) for sid in series})
    scores = baseline_discriminative(series, drawn, usable=gan["series_scored"], seq_len=seq_len, holdout=holdout,
                                     seeds=seeds, epochs=epochs)
    out["models"]["gan"]["discriminative"] = gan["discriminative"]
    for name, score in scores.items():
        out["models"][name]["discriminative"] = score
    out["paths"], out["skipped"] = paths, ({"garch_t": c.skipped} if c.skipped else {})
    return out, drawn
