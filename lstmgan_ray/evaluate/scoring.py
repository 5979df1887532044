"""From aligned arrays to the evaluation's numbers: forecast accuracy, synthetic returns and their scores.

Pure NumPy on the driver, apart from the post-hoc networks of the TimeGAN scores: the
stages in ``run`` gather the generated rows into arrays, and everything that turns those
arrays into metrics lives here, so it can be tested on hand-made inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmgan_ray.data.contract import transform_column
from lstmgan_ray.errors import ConfigError
from lstmgan_ray.evaluate.forecast_metrics import (
    dm_against_persistence,
    interval_coverage,
    point_metrics,
    up_share,
    verdicts,
)
from lstmgan_ray.evaluate.scenarios import discriminative_seeds
from lstmgan_ray.evaluate.synthetic_metrics import (
    predictive_scores,
    split_windows,
    stylised_facts,
)


def forecast_metrics(windows: dict[str, np.ndarray], sampled: np.ndarray, point: np.ndarray,
                     supervised: np.ndarray) -> dict[str, Any]:
    """Accuracy of the three forecasts on the same test windows, overall and per series."""
    actual, last = windows["future_actual"], windows["last"]
    forecasts = {"gan": point, "persistence": np.repeat(last[:, None], actual.shape[1], axis=1),
                 "supervised": supervised}
    models = {name: point_metrics(f, actual, last) for name, f in forecasts.items()}
    per_series = {}
    for sid in np.unique(windows["series_id"].astype(str)):
        m = windows["series_id"].astype(str) == sid
        per_series[sid] = {name: point_metrics(f[m], actual[m], last[m]) for name, f in forecasts.items()}
    return {"split": "test", "windows": len(last), "series": len(per_series), "horizon": int(actual.shape[1]),
            "paths": int(sampled.shape[1]), "scored_steps": int(np.isfinite(actual).sum()), "models": models,
            "verdicts": verdicts(models), "up_share": up_share(actual, last),
            "gan_interval_coverage_90": interval_coverage(sampled, actual, 0.9), "per_series": per_series,
            "diebold_mariano": dm_against_persistence(windows, point)}


def synthetic_returns(rows: pd.DataFrame, seeds: dict[str, np.ndarray], transform: str) -> dict[str, dict]:
    """Per series: real and synthetic returns over the steps where the real value is known.

    Returns are the target's transform (log returns by default) of consecutive values,
    starting from the seed window's last real value; ``*_scaled`` use the checkpoint's
    target scaler, the space the generator works in.
    """
    out = {}
    for i, sid in enumerate(seeds["series_id"].astype(str)):
        r = rows[rows["series_id"] == sid].sort_values(["path", "step"])
        steps = int(r["step"].max())
        values = r["value"].to_numpy().reshape(-1, steps)
        first = r[r["path"] == 0]
        known = first["actual"].notna().to_numpy()
        n = len(known) if known.all() else int(np.argmin(known))  # real values end where the data do
        start = [seeds["last"][i]]
        real = transform_column(np.concatenate([start, first["actual"].to_numpy()[:n]]), transform)[1:]
        synth = [transform_column(np.concatenate([start, v[:n]]), transform)[1:] for v in values]
        mu, sd = seeds["mu"][i], seeds["sd"][i]
        out[sid] = {"time": first["timestamp"].to_numpy()[:n], "actual": first["actual"].to_numpy()[:n],
                    "paths": values[:, :n], "real": real, "synthetic": synth,
                    "real_scaled": (real - mu) / sd, "synthetic_scaled": [(s - mu) / sd for s in synth],
                    "scale": (float(mu), float(sd))}
    return out


def synthetic_metrics(series: dict[str, dict], *, seq_len: int, holdout: float, max_lag: int, epochs: int,
                      seed: int, paths: int, steps: int,
                      classifier_seeds: int = 1) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """TimeGAN scores (the discriminative one over ``classifier_seeds`` seeds from ``seed``) and stylised
    facts; also returns the held-out windows for the projection figure."""
    usable = {sid: s for sid, s in series.items() if len(s["real"]) * holdout >= seq_len}
    if not usable:
        longest = max(len(s["real"]) for s in series.values())
        raise ConfigError(f"--seq-len {seq_len}: the held-out {holdout:.0%} of the longest test path ({longest} steps) "
                          f"is shorter than one window; lower --seq-len or --holdout")
    real_fit, real_held = split_windows([s["real_scaled"] for s in usable.values()], seq_len, holdout)
    fake_fit, fake_held = split_windows([p for s in usable.values() for p in s["synthetic_scaled"]], seq_len, holdout)
    kwargs = {"epochs": epochs, "seed": seed}
    metrics = {
        "paths": paths, "steps": steps, "sequence_length": seq_len, "holdout": holdout,
        "series_scored": sorted(usable),
        "discriminative": discriminative_seeds(real_fit, fake_fit, real_held, fake_held, epochs=epochs,
                                               seeds=[seed + i for i in range(classifier_seeds)]),
        "predictive": predictive_scores(real_fit, fake_fit, real_held, **kwargs),
        "stylised_facts": {sid: stylised_facts(s["real"], s["synthetic"], max_lag) for sid, s in series.items()},
    }
    return metrics, {"real": real_held, "synthetic": fake_held}


def by_series(windows: dict[str, np.ndarray], arrays: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """``arrays`` (aligned with the windows' rows) split per series: what the figures draw per panel."""
    ids = windows["series_id"].astype(str)
    return {sid: {name: a[ids == sid] for name, a in arrays.items()} for sid in np.unique(ids)}


def fan_series(windows: dict[str, np.ndarray], sampled: np.ndarray, point: np.ndarray,
               supervised: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """One-step-ahead arrays per series for the fan figure."""
    q = np.quantile(sampled[:, :, 0], [0.05, 0.25, 0.75, 0.95], axis=1)
    return by_series(windows, {"time": windows["timestamp"], "actual": windows["future_actual"][:, 0],
                               "point": point[:, 0], "supervised": supervised[:, 0],
                               **{name: q[i] for i, name in enumerate(("q05", "q25", "q75", "q95"))}})


def horizon_fan_series(windows: dict[str, np.ndarray], sampled: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per series, what ``figures.horizon_fan_figure`` draws: origins, their values, the H steps ahead
    (times, actual values) and the sampled paths ``[N, K, H]`` in original units."""
    return by_series(windows, {"origin": windows["origin"].astype("datetime64[ns]"), "last": windows["last"],
                               "future_time": windows["future_time"], "future_actual": windows["future_actual"],
                               "sampled": sampled})
