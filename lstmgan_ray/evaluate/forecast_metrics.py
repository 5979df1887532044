"""Point-forecast accuracy in original units, and which of two forecasts is better.

Every model is scored on exactly the same (window, step) pairs: the caller passes
aligned arrays, and pairs whose actual value is unknown (past the data) are
dropped for all models alike. Whether a difference in accuracy is more than luck is the
Diebold-Mariano test's question (``diebold_mariano``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmgan_ray.evaluate.extras import missing_package
from lstmgan_ray.model.scoring import interval_rank

try:  # the eval extra
    from scipy import stats
except ImportError as err:
    raise missing_package("scipy", err) from err

LOWER_IS_BETTER = ("rmse", "mae", "mape")
HIGHER_IS_BETTER = ("directional_accuracy",)


def _columns(values) -> np.ndarray:
    values = np.asarray(values, np.float64)
    return values[:, None] if values.ndim == 1 else values


def point_metrics(pred: np.ndarray, actual: np.ndarray, last: np.ndarray) -> dict[str, float | None]:
    """RMSE, MAE, MAPE (percent) and directional accuracy of ``pred`` against ``actual``.

    Args:
        pred, actual: ``[N, H]`` (or ``[N]``) forecasts and actual values, original units.
        last: ``[N]`` the last observed value of each window, from which direction is judged.
    Directional accuracy is the share of steps where the forecast moves from ``last`` the
    same way the actual value did, over steps where the actual value moved; it is ``None``
    for a forecast that never predicts a move (persistence). ``up_forecasts``, the share of
    steps forecast to rise, shows a forecaster that only ever says "up".
    """
    pred, actual = _columns(pred), _columns(actual)
    base = np.broadcast_to(np.asarray(last, np.float64)[:, None], actual.shape)
    known = np.isfinite(actual)
    p, a, b = pred[known], actual[known], base[known]
    err = p - a
    moved = np.sign(a - b) != 0
    predicts_moves = bool(np.any(np.sign(p - b) != 0))
    return {
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "mae": float(np.mean(np.abs(err))),
        "mape": float(100.0 * np.mean(np.abs(err) / np.abs(a))),
        "directional_accuracy": (float(np.mean(np.sign(p - b)[moved] == np.sign(a - b)[moved]))
                                 if predicts_moves and moved.any() else None),
        "up_forecasts": float(np.mean(p > b)),
    }


def up_share(actual: np.ndarray, last: np.ndarray) -> float:
    """Share of moves that were up: the directional accuracy of always forecasting "up"."""
    actual = _columns(actual)
    move = np.sign(actual - np.asarray(last, np.float64)[:, None])[np.isfinite(actual)]
    move = move[move != 0]
    return float(np.mean(move > 0)) if len(move) else float("nan")


def nominal_coverage(draws: int, level: float = 0.9) -> float:
    """What a calibrated model's ``inside_interval`` share is with ``draws`` draws."""
    return (draws + 1 - 2 * interval_rank(draws, level)) / (draws + 1)


def inside_interval(paths: np.ndarray, actual: np.ndarray, level: float = 0.9) -> np.ndarray:
    """Whether each actual value lies in the central ``level`` interval of its draws (order
    statistics over axis 1, ``interval_rank``): ``paths`` ``[N, K, ...]`` against ``actual`` ``[N, ...]``."""
    k = paths.shape[1]
    j = interval_rank(k, level)
    ordered = np.sort(paths, axis=1)
    lo, hi = ordered[:, j - 1], ordered[:, k - j]
    return (actual >= lo) & (actual <= hi)


def interval_coverage(paths: np.ndarray, actual: np.ndarray, level: float = 0.9) -> float:
    """Share of known actual values inside the central ``level`` interval of the sampled paths.

    Args:
        paths: ``[N, K, H]`` sampled forecasts; actual: ``[N, H]``.
    """
    known = np.isfinite(actual)
    return float(np.mean(inside_interval(paths, actual, level)[known]))


def verdicts(models: dict[str, dict[str, Any]], subject: str = "gan") -> list[dict[str, Any]]:
    """For each baseline and metric: both values and which model is better ("tie" if equal, None if n/a)."""
    out = []
    for baseline, theirs in models.items():
        if baseline == subject:
            continue
        for metric in (*LOWER_IS_BETTER, *HIGHER_IS_BETTER):
            a, b = models[subject].get(metric), theirs.get(metric)
            if a is None or b is None:
                better = None
            elif a == b:
                better = "tie"
            else:
                ours = a < b if metric in LOWER_IS_BETTER else a > b
                better = subject if ours else baseline
            out.append({"metric": metric, "baseline": baseline, subject: a, "baseline_value": b, "better": better})
    return out


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, horizon: int = 1) -> dict[str, Any]:
    """Diebold-Mariano test of equal expected loss of two forecasts of the same series, in time order,
    with the Harvey-Leybourne-Newbold small-sample correction (statistic scaled, Student-t with n - 1
    degrees of freedom): a negative statistic means ``a`` has the lower loss. ``horizon``-step forecasts
    overlap, so their loss differences are autocorrelated up to lag ``horizon - 1``, and the variance
    includes those autocovariances. Undefined (NaN) when the differences do not vary."""
    d = np.asarray(loss_a, np.float64) - np.asarray(loss_b, np.float64)
    n, h = len(d), int(horizon)
    out: dict[str, Any] = {"statistic": float("nan"), "pvalue": float("nan"), "mean_loss_difference":
                           float(np.mean(d)) if n else float("nan"), "observations": n, "horizon": h}
    if n < max(3, h + 1):
        return out
    centred = d - d.mean()
    gamma = [np.dot(centred[k:], centred[:n - k]) / n for k in range(h)]
    variance = (gamma[0] + 2.0 * sum(gamma[1:])) / n
    if not variance > 0:
        return out
    statistic = d.mean() / np.sqrt(variance) * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    out.update(statistic=float(statistic), pvalue=float(2 * stats.t.sf(abs(statistic), df=n - 1)))
    return out


def dm_against_persistence(windows: dict[str, np.ndarray], point: np.ndarray) -> dict[str, Any]:
    """Per series, the Diebold-Mariano test (squared error) of the GAN's point forecast against persistence,
    one step ahead and, for longer horizons, at the last step; windows must be in origin order per series."""
    actual, last = _columns(windows["future_actual"]), np.asarray(windows["last"], np.float64)
    point, series = _columns(point), windows["series_id"].astype(str)
    steps = {"one_step": 1, **({"horizon": actual.shape[1]} if actual.shape[1] > 1 else {})}
    per_series = {}
    for sid in np.unique(series):
        m = series == sid
        per_series[sid] = {}
        for label, h in steps.items():
            known = np.isfinite(actual[m, h - 1])
            a, p, b = actual[m, h - 1][known], point[m, h - 1][known], last[m][known]
            per_series[sid][label] = diebold_mariano((p - a) ** 2, (b - a) ** 2, horizon=h)
    return {"loss": "squared error", "against": "persistence", "correction": "Harvey-Leybourne-Newbold",
            "reading": "statistic < 0: the GAN's squared error is lower", "per_series": per_series}
