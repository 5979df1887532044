"""The evaluation's figures (PNG, matplotlib's Agg backend) and the Markdown report that embeds them.

Figures take plain arrays, so they can be drawn from ``metrics.json`` and the
generated Parquet as well as from an evaluation in memory. The report states
every comparison with its numbers and says which model is better, including
when a baseline wins.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

MAX_SERIES = 4  # panels per figure; more series are listed in metrics.json only
REAL, SYNTHETIC, GAN, SUPERVISED = "#222222", "#d1495b", "#00798c", "#edae49"


def _pyplot():
    """pyplot on the Agg backend, imported on first drawing, not at import time: choosing a backend is a
    process-wide side effect that importing this module (e.g. for ``write_report``) should not have, and
    Agg must be chosen before pyplot loads so that a headless Ray node never looks for a display."""
    import matplotlib

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


def paths_figure(series: dict[str, dict[str, np.ndarray]], path: str, max_paths: int = 20) -> str:
    """Synthetic paths rolled out from the first test window against the real test path."""
    plt, fig, axes = _panels(len(series))
    for ax, (sid, s) in zip(axes[:, 0], list(series.items())[:MAX_SERIES], strict=True):
        for k, p in enumerate(s["paths"][:max_paths]):
            ax.plot(s["time"], p, color=SYNTHETIC, lw=0.6, alpha=0.45, label="synthetic" if k == 0 else None)
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


def acf_figure(facts: dict[str, dict[str, Any]], path: str) -> str:
    """Autocorrelation of returns and of absolute returns (volatility clustering), real vs synthetic."""
    plt, fig, axes = _panels(len(facts), columns=2, height=2.4)
    for row, (sid, f) in zip(axes, list(facts.items())[:MAX_SERIES], strict=True):
        for ax, name, title in ((row[0], "returns", "returns"), (row[1], "abs_returns", "|returns|")):
            lags = np.arange(1, len(f[f"acf_{name}_real"]) + 1)
            ax.bar(lags - 0.2, f[f"acf_{name}_real"], width=0.4, color=REAL, label="real")
            ax.bar(lags + 0.2, f[f"acf_{name}_synthetic"], width=0.4, color=SYNTHETIC, label="synthetic (mean)")
            ax.axhline(0, color="#888888", lw=0.6)
            ax.set_title(f"{sid}: ACF of {title}", fontsize=10)
            ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=8)
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


# -- the report ------------------------------------------------------------------

MODEL_NAMES = {"gan": "GAN (zero-noise point forecast)", "persistence": "persistence (last value)",
               "supervised": "same generator, supervised loss only"}


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.1f}"
    return str(value)


def _verdict(v: dict[str, Any]) -> str | None:
    a, b = _fmt(v["gan"], 6), _fmt(v["baseline_value"], 6)  # enough digits to show the difference
    if v["better"] == "gan":
        return f"{v['metric']}: the GAN beats {v['baseline']} ({a} vs {b})."
    if v["better"] == "tie":
        return f"{v['metric']}: the GAN and {v['baseline']} tie ({a})."
    if v["better"] is not None:
        return f"{v['metric']}: **{v['baseline']} beats the GAN** ({b} vs {a})."
    return None


def forecast_section(f: dict[str, Any]) -> list[str]:
    """Paragraphs: what was scored, the table of the three models, and one verdict per metric and baseline."""
    rows = [f"| {MODEL_NAMES.get(name, name)} | {_fmt(m['rmse'])} | {_fmt(m['mae'])} | {_fmt(m['mape'])} | "
            f"{_fmt(m['directional_accuracy'], 3)} | {_fmt(m['up_forecasts'], 3)} |" for name, m in f["models"].items()]
    verdicts = [f"- {text}" for text in map(_verdict, f["verdicts"]) if text]
    return [
        (f"Test split, {f['windows']} windows of {f['series']} series, {f['horizon']} step(s) ahead, original "
         f"units; every model is scored on the same (window, step) pairs ({f['scored_steps']} of them)."),
        "\n".join(["| model | RMSE | MAE | MAPE % | directional accuracy | share of up forecasts |",
                   "|---|---|---|---|---|---|", *rows]),
        "\n".join(["**Which is better** (lower RMSE/MAE/MAPE, higher directional accuracy):", "", *verdicts]),
        (f"Persistence predicts no move, so it has no directional accuracy; always forecasting \"up\" would "
         f"score {_fmt(f['up_share'], 3)}. The GAN's {f['paths']} sampled paths put "
         f"{_fmt(100 * f['gan_interval_coverage_90'], 3)}% of actual values inside their central 90% interval "
         f"(a calibrated fan: 90%)."),
    ]


DISTRIBUTION_NAMES = {"gan": "GAN (sampled paths)", "iid_bootstrap": "iid bootstrap of training returns",
                      "normal_train": "normal, training mean and sd", "normal_recent": "normal, last 20 returns' sd"}


def distribution_section(d: dict[str, Any]) -> list[str]:
    """The sampled forecasts against the distributional baselines, and the plain verdict."""
    models = d["models"]
    rows = [f"| {DISTRIBUTION_NAMES.get(name, name)} | {_fmt(m['one_step']['crps'], 5)} | "
            f"{_fmt(m['one_step']['coverage90'], 3)} | {_fmt(m['horizon']['crps'], 5)} | "
            f"{_fmt(m['horizon']['coverage90'], 3)} |" for name, m in models.items()]
    best = min(models, key=lambda name: models[name]["one_step"]["crps"])
    beaten = [DISTRIBUTION_NAMES.get(n, n) for n in models
              if n != "gan" and models[n]["one_step"]["crps"] < models["gan"]["one_step"]["crps"]]
    verdict = (f"The GAN loses to: {', '.join(beaten)} (lower one-step CRPS)." if beaten
               else "The GAN has the lowest one-step CRPS of these models.")
    return [
        (f"As distributions, in {d['units']} units: CRPS (lower is better) and coverage of the central 90% of "
         f"{d['samples']} draws (a calibrated model: 0.9), per series and then averaged, on the {d['windows']} "
         f"windows that have {d['recent_steps']} past test returns."),
        "\n".join(["| model | CRPS, 1 step | coverage, 1 step | CRPS, last step | coverage, last step |",
                   "|---|---|---|---|---|", *rows]),
        f"Best one-step CRPS: {DISTRIBUTION_NAMES.get(best, best)}. {verdict}",
    ]


def synthetic_section(s: dict[str, Any]) -> list[str]:
    """Paragraphs: the TimeGAN scores in words, and a table of stylised facts per series."""
    d, p = s["discriminative"], s["predictive"]
    better = "at least as useful as" if p["tstr_mae"] <= p["trtr_mae"] else "less useful than"
    if min(p["tstr_mae"], p["trtr_mae"]) >= 0.98 * p["mean_mae"]:
        reading = (f"neither predictor beats forecasting the mean ({_fmt(p['mean_mae'])}): the next return is "
                   f"not predictable from these windows, so this score cannot rank the synthetic data.")
    else:
        reading = f"the synthetic paths are {better} real data for training a forecaster."
    rows = [f"| {sid} | {_fmt(f['ks_statistic'], 3)} ({_fmt(f['ks_pvalue'], 2)}) | {_fmt(f['kurtosis_real'], 3)} / "
            f"{_fmt(f['kurtosis_synthetic'], 3)} | {_fmt(f['std_real'], 3)} / {_fmt(f['std_synthetic'], 3)} | "
            f"{_fmt(f['acf_returns_real'][0], 2)} / {_fmt(f['acf_returns_synthetic'][0], 2)} | "
            f"{_fmt(f['acf_abs_returns_real'][0], 2)} / {_fmt(f['acf_abs_returns_synthetic'][0], 2)} |"
            for sid, f in s["stylised_facts"].items()]
    return [
        (f"{s['paths']} synthetic paths per series, rolled out for {s['steps']} steps from the first test window; "
         f"windows of {s['sequence_length']} scaled returns, the last {round(100 * s['holdout'])}% of every path "
         f"held out."),
        "\n".join([
            (f"- Discriminative score: **{_fmt(d['discriminative_score'], 3)}** (classifier accuracy "
             f"{_fmt(d['classifier_accuracy'], 3)} on {d['held_out_windows_per_class']} held-out windows per "
             f"class; 0 = indistinguishable from real, 0.5 = always told apart)."),
            (f"- Predictive score (one-step MAE on real held-out windows, scaled units): train-on-synthetic "
             f"**{_fmt(p['tstr_mae'])}**, train-on-real {_fmt(p['trtr_mae'])}: {reading}"),
        ]),
        "\n".join([("| series | KS statistic (p) | kurtosis real / synthetic | std real / synthetic | "
                    "ACF(1) returns real / synthetic | ACF(1) abs returns real / synthetic |"),
                   "|---|---|---|---|---|---|", *rows]),
    ]


CAPTIONS = {"forecast_fan": "Test split: actual vs one-step forecasts, with the fan of the sampled paths",
            "synthetic_paths": "Synthetic paths vs the real test path",
            "returns_hist": "Return distributions, real vs synthetic",
            "acf": "Autocorrelation of returns and absolute returns",
            "projection": "Real vs synthetic windows, 2-D projections",
            "training_curves": "Training curves of the run"}


def write_report(out_dir: str, metrics: dict[str, Any], figures: dict[str, str]) -> str:
    """``report.md`` in ``out_dir``: headline tables, plain verdicts, and every figure embedded by relative link."""
    fig = {k: f"![{CAPTIONS[k]}]({os.path.basename(v)})" for k, v in figures.items()}
    b = metrics["baselines"]["supervised"]
    trained = f"; {b['epochs']} epoch(s) on {b['train_windows']} training windows" if b["epochs"] else ""
    no_history = "No training history (`metrics.jsonl`) was found next to the checkpoint, so there are no curves."
    blocks = [
        f"# Evaluation of `{metrics['checkpoint']}`",
        (f"Data `{metrics['data']}`; checkpoint epoch {metrics['checkpoint_epoch']}; written {metrics['created']} "
         f"in {metrics['seconds']:.0f} s. All numbers are in `metrics.json`."),
        "## Forecast accuracy", *forecast_section(metrics["forecast"]),
        (f"The supervised-only baseline is the checkpoint's generator architecture trained with the supervised "
         f"loss alone ({b['source']}{trained})."),
        fig.get("forecast_fan"),
        "## Forecast distributions", *distribution_section(metrics["forecast"]["distribution"]),
        "## Synthetic data", *synthetic_section(metrics["synthetic"]),
        *(fig.get(k) for k in ("synthetic_paths", "returns_hist", "acf", "projection")),
        "## Training", fig.get("training_curves", no_history),
    ]
    path = os.path.join(out_dir, "report.md")
    with open(path, "w") as fh:
        fh.write("\n\n".join(b for b in blocks if b) + "\n")
    return path
