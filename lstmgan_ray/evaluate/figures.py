"""The evaluation's figures (PNG, matplotlib's Agg backend).

Figures take plain arrays, so they can be drawn from ``metrics.json`` and the generated
Parquet as well as from an evaluation in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmgan_ray.evaluate.extras import missing_package

try:  # the eval extra
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
except ImportError as err:
    raise missing_package("sklearn", err) from err

MAX_SERIES = 4  # panels per figure; more series are listed in metrics.json only
REAL, SYNTHETIC, GAN, SUPERVISED, GARCH = "#222222", "#d1495b", "#00798c", "#edae49", "#6a4c93"


def _pyplot():
    """pyplot on the Agg backend, imported on first drawing, not at import time: choosing a backend is a
    process-wide side effect that importing this module (e.g. for the report alone) should not have, and
    Agg must be chosen before pyplot loads so that a headless Ray node never looks for a display."""
    try:  # the eval extra
        import matplotlib
    except ImportError as err:
        raise missing_package("matplotlib", err) from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(count: int, columns: int = 1, height: float = 2.6, width: float = 9.0):
    plt = _pyplot()
    rows = min(count, MAX_SERIES)
    fig, axes = plt.subplots(rows, columns, figsize=(width, height * rows), squeeze=False)
    return plt, fig, axes


def _save(plt, fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def fan_figure(series: dict[str, dict[str, np.ndarray]], path: str, last: int = 90) -> str:
    """Actual vs one-step forecasts over the last ``last`` test steps: the sampled paths' fan, the point forecasts.

    ``series[sid]`` holds ``time``, ``actual``, ``point`` (the GAN at zero noise),
    ``supervised``, and ``q05``/``q25``/``q75``/``q95`` of the K sampled paths, all ``[N]``.
    """
    plt, fig, axes = _panels(len(series))
    for ax, (sid, s) in zip(axes[:, 0], list(series.items())[:MAX_SERIES], strict=True):
        sl = slice(-last, None)
        t = s["time"][sl]
        ax.fill_between(t, s["q05"][sl], s["q95"][sl], color=GAN, alpha=0.18, lw=0, label="GAN paths 5-95%")
        ax.fill_between(t, s["q25"][sl], s["q75"][sl], color=GAN, alpha=0.35, lw=0, label="GAN paths 25-75%")
        ax.plot(t, s["actual"][sl], color=REAL, lw=1.2, label="actual")
        ax.plot(t, s["point"][sl], color=GAN, lw=1.0, label="GAN (zero noise)")
        ax.plot(t, s["supervised"][sl], color=SUPERVISED, lw=1.0, ls="--", label="supervised-only")
        ax.set_title(f"{sid}: one-step forecasts, last {len(t)} test days", fontsize=10)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=7, ncol=5, loc="upper left")
    return _save(plt, fig, path)


def horizon_fan_figure(series: dict[str, dict[str, np.ndarray]], path: str, fans: int = 6) -> str:
    """Fans of H-step forecast paths from ``fans`` origins spread over the test split, drawn on the actual
    path: one picture of whether the conditional spread opens and narrows with the market's.

    ``series[sid]`` holds ``origin`` ``[N]`` times and ``last`` ``[N]`` values at each window's end,
    ``future_time`` ``[N, H]``, ``future_actual`` ``[N, H]`` and the sampled paths ``sampled`` ``[N, K, H]``.
    """
    plt, fig, axes = _panels(len(series))
    for ax, (sid, s) in zip(axes[:, 0], list(series.items())[:MAX_SERIES], strict=True):
        ax.plot(s["origin"], s["last"], color=REAL, lw=1.0, label="actual")
        horizon = s["sampled"].shape[2]
        known = np.flatnonzero(np.isfinite(s["future_actual"][:, -1]))
        starts = known[np.linspace(0, len(known) - 1, fans).astype(int)] if len(known) else []
        for n, i in enumerate(np.unique(starts)):
            when = np.concatenate([s["origin"][i:i + 1], s["future_time"][i].astype("datetime64[ns]")])
            q = np.quantile(s["sampled"][i], [0.05, 0.25, 0.75, 0.95], axis=0)
            q = np.concatenate([np.full((4, 1), s["last"][i]), q], axis=1)
            ax.fill_between(when, q[0], q[3], color=GAN, alpha=0.25, lw=0, label="GAN paths 5-95%" if n == 0 else None)
            ax.fill_between(when, q[1], q[2], color=GAN, alpha=0.5, lw=0, label="GAN paths 25-75%" if n == 0 else None)
        ax.set_title(f"{sid}: {horizon}-step forecast fans from {len(np.unique(starts))} test windows", fontsize=10)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=7, ncol=3, loc="upper left")
    return _save(plt, fig, path)


def paths_figure(series: dict[str, dict[str, np.ndarray]], path: str, max_paths: int = 20) -> str:
    """Synthetic paths rolled out from the first test window against the real test path."""
    plt, fig, axes = _panels(len(series))
    for ax, (sid, s) in zip(axes[:, 0], list(series.items())[:MAX_SERIES], strict=True):
        for k, p in enumerate(s["paths"][:max_paths]):
            ax.plot(s["time"], p, color=SYNTHETIC, lw=0.6, alpha=0.45, label="synthetic" if k == 0 else None)
        if s.get("garch_path") is not None:
            ax.plot(s["time"], s["garch_path"][:len(s["time"])], color="tab:blue", lw=0.9, ls="--",
                    label="GARCH(1,1)-t, one path")
        ax.plot(s["time"], s["actual"], color=REAL, lw=1.3, label="actual")
        ax.set_title(f"{sid}: {min(len(s['paths']), max_paths)} synthetic paths from the first test window",
                     fontsize=10)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    return _save(plt, fig, path)


def training_figure(history: list[dict[str, Any]], path: str, epoch: int | None = None) -> str:
    """The run's per-epoch losses and validation RMSE against persistence."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.0))
    epochs = [h["epoch"] for h in history]
    for key, color in (("d_loss", SYNTHETIC), ("g_loss", GAN)):
        left.plot(epochs, [h.get(key) for h in history], marker="o", ms=3, color=color, label=key)
    right.plot(epochs, [h.get("val_rmse") for h in history], marker="o", ms=3, color=GAN, label="val_rmse (GAN)")
    right.plot(epochs, [h.get("val_rmse_persistence") for h in history], color=REAL, ls="--",
               label="persistence")
    for ax, title in ((left, "training losses"), (right, "validation RMSE, original units")):
        if epoch is not None:
            ax.axvline(epoch, color="#888888", lw=0.8, ls=":")
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.tick_params(labelsize=8)
    return _save(plt, fig, path)


def returns_figure(returns: dict[str, tuple[np.ndarray, np.ndarray]], path: str) -> str:
    """Histograms of real and (pooled) synthetic returns per series, log density to show the tails."""
    plt, fig, axes = _panels(len(returns), height=2.4, width=7.0)
    for ax, (sid, (real, synthetic)) in zip(axes[:, 0], list(returns.items())[:MAX_SERIES], strict=True):
        edges = np.histogram_bin_edges(np.concatenate([real, synthetic]), bins=60)
        ax.hist(real, bins=edges, density=True, color=REAL, alpha=0.55, label="real")
        ax.hist(synthetic, bins=edges, density=True, color=SYNTHETIC, alpha=0.55, label="synthetic")
        ax.set_yscale("log")
        ax.set_title(f"{sid}: returns over the test period", fontsize=10)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=8)
    return _save(plt, fig, path)


def acf_figure(facts: dict[str, dict[str, Any]], path: str, scenarios: dict[str, Any] | None = None) -> str:
    """Autocorrelation of returns (real vs synthetic), and of absolute returns (volatility clustering): out
    to lag 100 for the real test years, the GAN and the GARCH when ``scenarios`` has them, else as bars."""
    plt, fig, axes = _panels(len(facts), columns=2, height=2.4)
    for row, (sid, f) in zip(axes, list(facts.items())[:MAX_SERIES], strict=True):
        lags = np.arange(1, len(f["acf_returns_real"]) + 1)
        row[0].bar(lags - 0.2, f["acf_returns_real"], width=0.4, color=REAL, label="real")
        row[0].bar(lags + 0.2, f["acf_returns_synthetic"], width=0.4, color=SYNTHETIC, label="GAN (mean)")
        row[0].set_title(f"{sid}: ACF of returns", fontsize=10)
        if scenarios:
            lines = [("real test years", scenarios["real"][sid], REAL, 1.4)]
            lines += [(label, scenarios["models"][name]["per_series"][sid], color, 1.0)
                      for name, label, color in (("gan", "GAN (mean)", SYNTHETIC), ("garch_t", "GARCH(1,1)-t (mean)",
                                                                                     GARCH))
                      if name in scenarios["models"]]
            for label, fact, color, width in lines:
                acf_abs = fact["acf_abs"]
                row[1].plot(np.arange(1, len(acf_abs) + 1), acf_abs, color=color, lw=width, label=label)
            row[1].legend(fontsize=7)
        else:
            row[1].bar(lags - 0.2, f["acf_abs_returns_real"], width=0.4, color=REAL, label="real")
            row[1].bar(lags + 0.2, f["acf_abs_returns_synthetic"], width=0.4, color=SYNTHETIC, label="GAN (mean)")
        row[1].set_title(f"{sid}: ACF of |returns|", fontsize=10)
        row[1].set_xlabel("lag", fontsize=8)
        for ax in row:
            ax.axhline(0, color="#888888", lw=0.6)
            ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=8)
    return _save(plt, fig, path)


def pit_figure(pit: dict[str, Any], path: str) -> str:
    """One-step PIT histograms per series, the GAN's beside the GARCH's: flat is calibrated, a U too narrow,
    a hump too wide, a slope biased. ``pit`` is ``metrics.json``'s ``forecast.distribution.pit``."""
    per_series = pit["per_series"]
    plt, fig, axes = _panels(len(per_series), height=2.3, width=7.0)
    for ax, (sid, counts) in zip(axes[:, 0], list(per_series.items())[:MAX_SERIES], strict=True):
        bins = np.arange(pit["bins"])
        shown = [(n, label, color) for n, label, color in (("gan", "GAN", GAN), ("garch_t", "GARCH(1,1)-t", GARCH))
                 if n in counts]
        width = 0.8 / len(shown)
        for i, (name, label, color) in enumerate(shown):
            share = np.asarray(counts[name], np.float64) / max(1, sum(counts[name]))
            ax.bar((bins + 0.1 + width * (i + 0.5)) / pit["bins"], share, width=width / pit["bins"], color=color,
                   label=label)
        ax.axhline(1.0 / pit["bins"], color=REAL, lw=0.8, ls="--", label="calibrated")
        ax.set_xlim(0, 1)
        ax.set_title(f"{sid}: PIT of the next return in the one-step draws", fontsize=10)
        ax.set_ylabel("share of windows", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=7, ncol=3)
    return _save(plt, fig, path)


def projection_figure(real: np.ndarray, synthetic: np.ndarray, path: str, *, tsne: bool = True,
                      seed: int = 0, max_points: int = 1000) -> str:
    """Real and synthetic windows projected to 2-D: PCA fitted on the real ones, and t-SNE of both."""
    rng = np.random.default_rng(seed)
    count = min(len(real), len(synthetic), max_points)  # as many of each, so neither cloud hides the other
    real = real[rng.permutation(len(real))[:count]]
    synthetic = synthetic[rng.permutation(len(synthetic))[:count]]
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2 if tsne else 1, figsize=(9.0 if tsne else 4.5, 3.8), squeeze=False)
    pca = PCA(n_components=2, random_state=seed).fit(real)
    views = [("PCA (fitted on real)", pca.transform(real), pca.transform(synthetic))]
    if tsne:
        both = TSNE(n_components=2, random_state=seed, init="pca",
                    perplexity=min(30.0, max(2.0, (len(real) + len(synthetic)) / 4 - 1))).fit_transform(
            np.concatenate([real, synthetic]))
        views.append(("t-SNE", both[:len(real)], both[len(real):]))
    for ax, (title, r, s) in zip(axes[0], views, strict=True):
        ax.scatter(r[:, 0], r[:, 1], s=5, color=REAL, alpha=0.5, label="real")
        ax.scatter(s[:, 0], s[:, 1], s=5, color=SYNTHETIC, alpha=0.5, label="synthetic")
        ax.set_title(f"{title}: {len(r)} real, {len(s)} synthetic windows", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=8)
    return _save(plt, fig, path)
