"""The sampled forecasts as distributions, against the baselines a researcher tries first.

Scored in the target's transformed units (log returns by default), per series and then averaged
over series, so a series at a higher level does not dominate: the CRPS of the cumulative change
from the window's last value to each step, and how often the central 90% of the draws holds the
outcome. Every model is scored on the same windows: from the ``RECENT``-th test window of each
series on, where the recent-volatility normal has its ``RECENT`` past returns.

Baselines (``samples`` draws each, seeded):
- ``iid_bootstrap``: H returns drawn with replacement from the series' training returns;
- ``normal_train``: a normal with the training returns' mean and sd;
- ``normal_recent``: a normal with mean 0 and the sd of the ``RECENT`` returns before the window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmgan_ray.evaluate.forecast_metrics import inside_interval

RECENT = 20


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


def distribution_scores(windows: dict[str, np.ndarray], sampled: np.ndarray, train: dict[str, np.ndarray],
                        transform: str, *, seed: int = 0) -> dict[str, Any]:
    """CRPS and 90% coverage of the GAN's draws and each baseline's, one step and ``H`` steps ahead.

    Args:
        windows: the test windows (``last``, ``future_actual``, ``series_id``), sorted by series and origin.
        sampled: the GAN's ``[N, K, H]`` sampled paths in original units.
        train: per series, the training split's one-step changes (transformed units).
    """
    series = windows["series_id"].astype(str)
    actual = changes(windows["future_actual"], windows["last"], transform)  # [N, H]
    sd_recent = recent_sd(actual[:, 0], series)
    keep = np.isfinite(sd_recent) & np.isfinite(actual).all(axis=1)
    draws = {"gan": changes(sampled, windows["last"], transform),
             **baseline_draws(train, series, sd_recent, actual.shape[1], sampled.shape[1], seed)}
    out: dict[str, Any] = {"windows": int(keep.sum()), "samples": int(sampled.shape[1]), "recent_steps": RECENT,
                           "units": transform, "models": {}}
    for name, d in draws.items():
        scores = {}
        for label, h in (("one_step", 0), ("horizon", actual.shape[1] - 1)):
            crps = per_series(sample_crps(actual[keep, h], d[keep, :, h]), series[keep])
            cover = per_series(inside_interval(d[keep, :, h], actual[keep, h]).astype(float), series[keep])
            scores[label] = {"crps": float(np.mean(list(crps.values()))),
                             "coverage90": float(np.mean(list(cover.values()))),
                             "crps_per_series": crps, "coverage90_per_series": cover}
        out["models"][name] = scores
    return out
