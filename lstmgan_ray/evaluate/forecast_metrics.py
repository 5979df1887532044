"""Point-forecast accuracy in original units, and which of two forecasts is better.

Every model is scored on exactly the same (window, step) pairs: the caller passes
aligned arrays, and pairs whose actual value is unknown (past the data) are
dropped for all models alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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


def inside_interval(paths: np.ndarray, actual: np.ndarray, level: float = 0.9) -> np.ndarray:
    """Whether each actual value lies in the central ``level`` interval of its draws (empirical
    quantiles over axis 1): ``paths`` ``[N, K, ...]`` against ``actual`` ``[N, ...]``."""
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(paths, [tail, 1.0 - tail], axis=1)
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
