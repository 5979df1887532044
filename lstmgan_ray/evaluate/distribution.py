"""The sampled forecasts as distributions, against the baselines a researcher tries first.

Scored in the target's transformed units (log returns by default), per series and then averaged
over series, so a series at a higher level does not dominate: the CRPS of the cumulative change
from the window's last value to each step, the CRPS of each step's own return, how often the
central 90% of the draws holds the outcome, and the realised daily volatility over the draws'
(above 1: the model is too calm). Every model is scored on the same windows, with as many draws
as the GAN has paths: from the ``RECENT``-th test window of each series on, where the
recent-volatility normal has its ``RECENT`` past returns.

Baselines (seeded), all fitted on the series' training returns only:
- ``iid_bootstrap``: H returns drawn with replacement from the training returns;
- ``block_bootstrap``: H consecutive returns of a stationary block bootstrap (``classical``);
- ``normal_train``: a normal with the training returns' mean and sd;
- ``normal_recent``: a normal with mean 0 and the sd of the ``RECENT`` returns before the window;
- ``garch_t``: GARCH(1,1)-t simulated from the variance filtered up to the window (``classical``;
  absent, and named in ``skipped``, without the ``arch`` package).
The one-step PIT of the GAN and the GARCH are kept as histograms (a calibrated model's is flat).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmgan_ray.evaluate.forecast_metrics import inside_interval

RECENT = 20
MODEL_ORDER = ("gan", "iid_bootstrap", "block_bootstrap", "normal_train", "normal_recent", "garch_t")
PIT_BINS = 10


def changes(values: np.ndarray, last: np.ndarray, transform: str) -> np.ndarray:
    """Cumulative change from ``last`` to each step, in the target's transformed units."""
    values, last = np.asarray(values, np.float64), np.asarray(last, np.float64)
    last = last.reshape(last.shape + (1,) * (values.ndim - 1))
    if transform == "log_return":
        return np.log(values / last)
    if transform == "log1p_diff":
        return np.log1p(values) - np.log1p(last)
    if transform == "diff":
        return values - last
    return values


def sample_crps(real: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """CRPS of ``draws`` ``[N, K]`` for outcomes ``real`` ``[N]``: E|X - y| - E|X - X'| / 2, with the
    K(K-1) distinct pairs (the sorted-sample identity makes it O(K log K))."""
    k = draws.shape[1]
    ordered = np.sort(draws, axis=1)
    accuracy = np.mean(np.abs(draws - real[:, None]), axis=1)
    weights = 2 * np.arange(1, k + 1) - k - 1
    spread = 2 * np.sum(weights * ordered, axis=1) / (k * (k - 1))
    return accuracy - 0.5 * spread


def recent_sd(past: np.ndarray, series: np.ndarray) -> np.ndarray:
    """Per window, the sd of the ``RECENT`` one-step changes before it in its own series (NaN
    where fewer exist); ``past`` is each window's first-step realised change, in origin order."""
    out = np.full(len(past), np.nan)
    for sid in np.unique(series):
        idx = np.flatnonzero(series == sid)
        for j in range(RECENT, len(idx)):
            out[idx[j]] = np.std(past[idx[j - RECENT:j]], ddof=1)
    return out


def baseline_draws(train: dict[str, np.ndarray], series: np.ndarray, sd_recent: np.ndarray, horizon: int,
                   samples: int, seed: int) -> dict[str, np.ndarray]:
    """``[N, K, H]`` cumulative changes of each baseline for windows of ``series``."""
    rng = np.random.default_rng(seed)
    n = len(series)
    out = {name: np.zeros((n, samples, horizon)) for name in ("iid_bootstrap", "normal_train", "normal_recent")}
    for sid in np.unique(series):
        m, r = series == sid, train[sid]
        count = int(m.sum())
        out["iid_bootstrap"][m] = rng.choice(r, size=(count, samples, horizon)).cumsum(axis=2)
        steps = rng.normal(r.mean(), r.std(), size=(count, samples, horizon))
        out["normal_train"][m] = steps.cumsum(axis=2)
    shocks = rng.normal(size=(n, samples, horizon)).cumsum(axis=2)
    out["normal_recent"] = shocks * np.nan_to_num(sd_recent)[:, None, None]
    return out


def per_series(values: np.ndarray, series: np.ndarray) -> dict[str, float]:
    return {sid: float(np.mean(values[series == sid])) for sid in np.unique(series)}


def _averaged(values: np.ndarray, series: np.ndarray) -> tuple[float, dict[str, float]]:
    """Per-series means and their mean: each series counts once, whatever its level or length."""
    each = per_series(values, series)
    return float(np.mean(list(each.values()))), each


def step_returns(cumulative: np.ndarray) -> np.ndarray:
    """Cumulative changes ``[..., H]`` back to each step's own change."""
    return np.diff(cumulative, axis=-1, prepend=0.0)


def volatility_ratio(actual: np.ndarray, draws: np.ndarray, series: np.ndarray) -> dict[str, float]:
    """Per series, the sd of the realised daily returns over the sd of the drawn ones (all steps pooled;
    NaN for draws that never vary)."""
    real, drawn = step_returns(actual), step_returns(draws)
    spread = {sid: np.std(drawn[series == sid]) for sid in np.unique(series)}
    return {sid: float(np.std(real[series == sid]) / sd) if sd > 0 else float("nan") for sid, sd in spread.items()}


def pit_values(real: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomised probability integral transform of ``real`` ``[N]`` in its draws ``[N, K]``: the outcome's
    rank among the K + 1 values (ties split at random), spread uniformly within its slot, so that a
    calibrated sampler's PIT is uniform on (0, 1) even with few draws."""
    below = np.sum(draws < real[:, None], axis=1)
    ties = np.sum(draws == real[:, None], axis=1)
    rank = below + np.floor(rng.random(len(real)) * (ties + 1))
    return (rank + rng.random(len(real))) / (draws.shape[1] + 1)


def model_scores(d: np.ndarray, actual: np.ndarray, series: np.ndarray) -> dict[str, Any]:
    """One model's ``[N, K, H]`` cumulative draws against ``[N, H]`` outcomes (the kept windows)."""
    scores: dict[str, Any] = {}
    for label, h in (("one_step", 0), ("horizon", actual.shape[1] - 1)):
        crps, crps_each = _averaged(sample_crps(actual[:, h], d[:, :, h]), series)
        cover, cover_each = _averaged(inside_interval(d[:, :, h], actual[:, h]).astype(float), series)
        scores[label] = {"crps": crps, "coverage90": cover, "crps_per_series": crps_each,
                         "coverage90_per_series": cover_each}
    real, drawn = step_returns(actual), step_returns(d)
    scores["horizon"]["crps_per_step"] = [_averaged(sample_crps(real[:, h], drawn[:, :, h]), series)[0]
                                          for h in range(actual.shape[1])]
    ratio = volatility_ratio(actual, d, series)
    scores["volatility_ratio"] = {"mean": float(np.mean(list(ratio.values()))), "per_series": ratio}
    return scores


def pit_histograms(draws: dict[str, np.ndarray], actual: np.ndarray, series: np.ndarray,
                   seed: int) -> dict[str, dict[str, list[int]]]:
    """Per series, the one-step PIT histogram (``PIT_BINS`` equal bins) of the GAN and of the GARCH."""
    rng = np.random.default_rng([seed, 3])
    edges = np.linspace(0.0, 1.0, PIT_BINS + 1)
    out: dict[str, dict[str, list[int]]] = {sid: {} for sid in np.unique(series)}
    for name in ("gan", "garch_t"):
        if name in draws:
            pit = pit_values(actual[:, 0], draws[name][:, :, 0], rng)
            for sid in out:
                out[sid][name] = np.histogram(pit[series == sid], bins=edges)[0].tolist()
    return out


def distribution_scores(windows: dict[str, np.ndarray], sampled: np.ndarray, train: dict[str, np.ndarray],
                        transform: str, *, seed: int = 0, classical: dict[str, np.ndarray] | None = None,
                        skipped: dict[str, str] | None = None) -> dict[str, Any]:
    """CRPS, 90% coverage and volatility ratio of the GAN's draws and each baseline's, 1 and ``H`` steps ahead.

    Args:
        windows: the test windows (``last``, ``future_actual``, ``series_id``), sorted by series and origin.
        sampled: the GAN's ``[N, K, H]`` sampled paths in original units.
        train: per series, the training split's one-step changes (transformed units).
        classical: per baseline of ``classical.forecast_draws``, ``[N, K, H]`` step returns (transformed units).
        skipped: baselines left out, with the reason (reported as given).
    """
    series = windows["series_id"].astype(str)
    actual = changes(windows["future_actual"], windows["last"], transform)  # [N, H]
    sd_recent = recent_sd(actual[:, 0], series)
    keep = np.isfinite(sd_recent) & np.isfinite(actual).all(axis=1)
    draws = {"gan": changes(sampled, windows["last"], transform),
             **baseline_draws(train, series, sd_recent, actual.shape[1], sampled.shape[1], seed),
             **{name: d.cumsum(axis=2) for name, d in (classical or {}).items()}}
    kept = {name: draws[name][keep] for name in MODEL_ORDER if name in draws}
    return {"windows": int(keep.sum()), "samples": int(sampled.shape[1]), "recent_steps": RECENT,
            "units": transform, "horizon": int(actual.shape[1]), "skipped": dict(skipped or {}),
            "models": {name: model_scores(d, actual[keep], series[keep]) for name, d in kept.items()},
            "pit": {"bins": PIT_BINS, "per_series": pit_histograms(kept, actual[keep], series[keep], seed)}}
