"""How good synthetic series are: the measures the time-series GAN literature uses.

TimeGAN (Yoon, Jarrett & van der Schaar, NeurIPS 2019) scores synthetic data with
two post-hoc networks: the *discriminative score*, |accuracy - 0.5| of a
recurrent classifier trained to tell real from synthetic windows and tested on
held-out ones (0: indistinguishable, 0.5: perfectly told apart), and the
*predictive score*, the one-step MAE on real data of a recurrent predictor
trained on synthetic data (train-on-synthetic, test-on-real), beside the same
predictor trained on real data. Financial series are also judged by their
stylised facts: heavy-tailed returns (kurtosis, distance between return
distributions) and volatility clustering (autocorrelation of absolute returns).

Held-out parts are chronological (the last ``holdout`` of every sequence), not
random, because windows cut with stride 1 overlap: a random split would let a
network be tested on windows it has nearly seen.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from lstmgan_ray.evaluate.extras import missing_package

try:  # the eval extra
    from scipy import stats
except ImportError as err:
    raise missing_package("scipy", err) from err


def split_windows(sequences: list[np.ndarray], length: int, holdout: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``length`` (stride 1) from the first and the last ``holdout`` of every sequence.

    The two parts share no step, so held-out windows are never seen in training.
    """
    fit, held = [], []
    for seq in sequences:
        seq = np.asarray(seq, np.float32)
        cut = round(len(seq) * (1.0 - holdout))
        for part, bucket in ((seq[:cut], fit), (seq[cut:], held)):
            if len(part) >= length:
                bucket.append(np.lib.stride_tricks.sliding_window_view(part, length))
    empty = np.zeros((0, length), np.float32)
    return (np.concatenate(fit) if fit else empty), (np.concatenate(held) if held else empty)


def _balanced(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(a), len(b))
    return a[rng.permutation(len(a))[:n]], b[rng.permutation(len(b))[:n]]


def _recurrent(length: int, units: int, seed: int):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((length, 1)), keras.layers.GRU(units), keras.layers.Dense(1)])


def discriminative_score(real_fit: np.ndarray, fake_fit: np.ndarray, real_held: np.ndarray, fake_held: np.ndarray,
                         *, epochs: int = 40, units: int = 16, batch_size: int = 128, seed: int = 0) -> dict[str, Any]:
    """|accuracy - 0.5| of a GRU classifier of real vs synthetic windows, on held-out windows.

    Both classes are subsampled to the same size (in fitting and in testing), so 0.5 is
    the accuracy of guessing. Inputs are standardised with the fitting windows' pooled
    mean and standard deviation.

    Args:
        real_fit, fake_fit: ``[n, L]`` windows to train the classifier on.
        real_held, fake_held: ``[m, L]`` held-out windows it is scored on.
        epochs, units, batch_size: the classifier's training budget and width.
    """
    rng = np.random.default_rng(seed)
    real_fit, fake_fit = _balanced(real_fit, fake_fit, rng)
    real_held, fake_held = _balanced(real_held, fake_held, rng)
    if len(real_fit) < 2 or len(real_held) < 1:
        raise ValueError(f"too few windows for the discriminative score: {len(real_fit)} per class to fit, "
                         f"{len(real_held)} held out")
    x_fit = np.concatenate([real_fit, fake_fit])
    mean, std = x_fit.mean(), x_fit.std() or 1.0
    y_fit = np.concatenate([np.zeros(len(real_fit)), np.ones(len(fake_fit))]).astype(np.float32)
    model = _recurrent(x_fit.shape[1], units, seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(((x_fit - mean) / std)[..., None], y_fit, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    x_held = np.concatenate([real_held, fake_held])
    y_held = np.concatenate([np.zeros(len(real_held)), np.ones(len(fake_held))])
    logits = model.predict(((x_held - mean) / std)[..., None], batch_size=1024, verbose=0)[:, 0]
    accuracy = float(np.mean((logits > 0) == (y_held > 0.5)))
    return {"discriminative_score": abs(accuracy - 0.5), "classifier_accuracy": accuracy,
            "fit_windows_per_class": len(real_fit), "held_out_windows_per_class": len(real_held)}


def predictive_mae(fit: np.ndarray, held: np.ndarray, *, epochs: int = 40, units: int = 16, batch_size: int = 128,
                   seed: int = 0) -> float:
    """One-step MAE on ``held`` of a GRU trained on ``fit`` to predict a window's last step from the rest."""
    model = _recurrent(fit.shape[1] - 1, units, seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
    model.fit(fit[:, :-1, None], fit[:, -1], epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    pred = model.predict(held[:, :-1, None], batch_size=1024, verbose=0)[:, 0]
    return float(np.mean(np.abs(pred - held[:, -1])))


def predictive_scores(real_fit: np.ndarray, fake_fit: np.ndarray, real_held: np.ndarray, **kwargs) -> dict[str, Any]:
    """Train-on-synthetic / test-on-real MAE beside train-on-real / test-on-real, same budget and test windows.

    ``mean_mae``, the MAE of forecasting the real fitting windows' mean, is the yardstick:
    when both scores sit at it, neither predictor learnt anything (returns often are that
    unpredictable) and the score cannot tell good synthetic data from bad.
    """
    rng = np.random.default_rng(kwargs.get("seed", 0))
    real_fit, fake_fit = _balanced(real_fit, fake_fit, rng)
    if len(real_fit) < 2 or len(real_held) < 1:
        raise ValueError(f"too few windows for the predictive score: {len(real_fit)} to fit, {len(real_held)} held out")
    return {"tstr_mae": predictive_mae(fake_fit, real_held, **kwargs),
            "trtr_mae": predictive_mae(real_fit, real_held, **kwargs),
            "mean_mae": float(np.mean(np.abs(real_held[:, -1] - real_fit[:, -1].mean()))),
            "fit_windows": len(real_fit), "held_out_windows": len(real_held)}


def acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation at lags 1..max_lag (the biased estimator statsmodels' ``acf`` uses)."""
    x = np.asarray(x, np.float64) - np.mean(x)
    denom = float(np.dot(x, x))
    if denom == 0:
        return np.zeros(max_lag)
    return np.array([np.dot(x[:-k], x[k:]) / denom if k < len(x) else 0.0 for k in range(1, max_lag + 1)])


def stylised_facts(real: np.ndarray, paths: list[np.ndarray], max_lag: int = 20) -> dict[str, Any]:
    """Returns of one real series against its synthetic paths: distribution, tails, (volatility) memory.

    ``ks_*`` compares the real returns with all synthetic returns pooled; kurtosis (excess,
    Fisher) and the autocorrelations are per path, then the median/mean over paths, so that
    a single synthetic path is compared with the single real one.
    """
    real = np.asarray(real, np.float64)
    pooled = np.concatenate([np.asarray(p, np.float64) for p in paths])
    ks = stats.ks_2samp(real, pooled)
    out: dict[str, Any] = {
        "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
        "std_real": float(np.std(real)), "std_synthetic": float(np.median([np.std(p) for p in paths])),
        "kurtosis_real": float(stats.kurtosis(real)),
        "kurtosis_synthetic": float(np.median([stats.kurtosis(p) for p in paths])),
    }
    for name, f in (("returns", np.asarray), ("abs_returns", np.abs)):
        r = acf(f(real), max_lag)
        s = np.mean([acf(f(np.asarray(p, np.float64)), max_lag) for p in paths], axis=0)
        out[f"acf_{name}_real"] = r.tolist()
        out[f"acf_{name}_synthetic"] = s.tolist()
        out[f"acf_{name}_mean_abs_diff"] = float(np.mean(np.abs(r - s)))
    return out
