"""The Markdown report that embeds the evaluation's figures (``figures``).

The report states every comparison with its numbers and says which model is better,
including when a baseline wins.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lstmgan_ray.evaluate.forecast_metrics import nominal_coverage

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
         f"(the j-th smallest to the j-th largest draw: a calibrated fan covers "
         f"{_fmt(100 * nominal_coverage(f['paths']), 3)}%)."),
        *filter(None, [dm_sentence(f.get("diebold_mariano"))]),
    ]


def dm_sentence(dm: dict[str, Any] | None) -> str | None:
    """The Diebold-Mariano tests of the GAN's point forecast against persistence, in words."""
    if not dm:
        return None
    parts = []
    for sid, tests in dm["per_series"].items():
        for label, t in tests.items():
            if not np.isfinite(t["statistic"]):
                verdict = "undefined (the loss differences do not vary)"
            elif t["pvalue"] < 0.05:
                verdict = f"**{'the GAN' if t['statistic'] < 0 else 'persistence'} is more accurate** at 5%"
            else:
                verdict = "no significant difference at 5%"
            where = "" if label == "one_step" else f", {t['horizon']} steps ahead"
            parts.append(f"{sid}{where}: DM {_fmt(t['statistic'], 3)}, p = {_fmt(t['pvalue'], 3)} "
                         f"({t['observations']} forecasts), {verdict}")
    return ("Diebold-Mariano test of the GAN's point forecast against persistence (squared error, "
            "Harvey-Leybourne-Newbold correction; negative: the GAN's error is lower): " + "; ".join(parts) + ".")


DISTRIBUTION_NAMES = {"gan": "GAN (sampled paths)", "iid_bootstrap": "iid bootstrap of training returns",
                      "block_bootstrap": "stationary block bootstrap of training returns",
                      "normal_train": "normal, training mean and sd", "normal_recent": "normal, last 20 returns' sd",
                      "garch_t": "GARCH(1,1)-t, variance filtered to the window"}
CALIBRATED = (0.85, 0.95)  # a 90% interval whose coverage falls outside this is called miscalibrated


def _name(model: str) -> str:
    return DISTRIBUTION_NAMES.get(model, model)


def _losses(models: dict[str, Any], sid: str, label: str) -> str:
    """Which baselines have a lower CRPS than the GAN for series ``sid`` (``one_step`` or ``horizon``)."""
    gan = models["gan"][label]["crps_per_series"][sid]
    beaten = sorted((m[label]["crps_per_series"][sid], n) for n, m in models.items()
                    if n != "gan" and m[label]["crps_per_series"][sid] < gan)
    what = "one-step CRPS" if label == "one_step" else "CRPS of the cumulative return"
    if not beaten:
        return f"no baseline beats the GAN's {what} ({_fmt(gan, 4)})"
    return (f"on {what} the GAN ({_fmt(gan, 4)}) **loses to** "
            + ", ".join(f"{_name(n)} ({_fmt(v, 4)})" for v, n in beaten))


def _coverage(models: dict[str, Any], sid: str, labels: tuple[str, ...]) -> str:
    lo, hi = CALIBRATED
    parts = []
    for label in labels:
        c = models["gan"][label]["coverage90_per_series"][sid]
        word = "too wide" if c > hi else "too narrow" if c < lo else None
        where = "" if len(labels) == 1 else (" one step ahead" if label == "one_step" else " for the cumulative return")
        parts.append(f"its 90% coverage{where}, {_fmt(c, 3)}, is "
                     + (f"**outside [{lo}, {hi}]** ({word})" if word else f"inside [{lo}, {hi}]"))
    return "; ".join(parts)


def series_verdicts(d: dict[str, Any]) -> list[str]:
    """One plain sentence per series: where the GAN loses (CRPS) and whether its 90% interval is calibrated."""
    models, multi = d["models"], d.get("horizon", 1) > 1
    labels = ("one_step", "horizon") if multi else ("one_step",)
    return [f"- {sid}: " + "; ".join(_losses(models, sid, label) for label in labels) + "; "
            + _coverage(models, sid, labels) + "."
            for sid in models["gan"]["one_step"]["crps_per_series"]]


def classical_sentence(c: dict[str, Any] | None) -> str | None:
    """How the classical baselines were fitted, with each series' GARCH parameters."""
    if not c:
        return None
    fits = c["garch_t"].get("per_series", {})
    garch = "; ".join(f"{sid}: alpha {_fmt(f['alpha'], 3)}, beta {_fmt(f['beta'], 3)}, persistence "
                      f"{_fmt(f['persistence'], 3)} (shocks half-life {_fmt(f['half_life_steps'], 3)} steps), "
                      f"Student-t nu {_fmt(f['nu'], 3)}" + ("" if f["converged"] else " (**did not converge**)")
                      for sid, f in fits.items())
    return (f"The stationary block bootstrap joins blocks of training returns of mean length "
            f"{c['block_bootstrap']['expected_block_length']} steps. "
            + (f"GARCH(1,1)-t fitted on each series' training returns: {garch}." if fits
               else c["garch_t"].get("skipped", "") + "."))


def distribution_section(d: dict[str, Any]) -> list[str]:
    """The sampled forecasts against every distributional baseline in one table, and the plain verdicts."""
    models, multi, k = d["models"], d.get("horizon", 1) > 1, d["samples"]
    cumulative = " CRPS, cumulative | coverage, cumulative |" if multi else ""
    rows = [f"| {_name(name)} | {_fmt(m['one_step']['crps'], 5)} | {_fmt(m['one_step']['coverage90'], 3)} |"
            + (f" {_fmt(m['horizon']['crps'], 5)} | {_fmt(m['horizon']['coverage90'], 3)} |" if multi else "")
            + f" {_fmt(m.get('volatility_ratio', {}).get('mean'), 3)} |" for name, m in models.items()]
    best = min(models, key=lambda name: models[name]["one_step"]["crps"])
    skipped = [f"{reason}." for reason in d.get("skipped", {}).values()]
    return [
        (f"As distributions, in {d['units']} units: CRPS (lower is better) and coverage of the central 90% of "
         f"{d['samples']} draws, per series and then averaged, on the {d['windows']} "
         f"windows that have {d['recent_steps']} past test returns"
         + (f", {d['horizon']} steps ahead (cumulative return)" if multi else "") + "; the volatility ratio is "
         "the realised daily returns' sd over the draws' (above 1: the model is too calm). Every baseline is "
         "fitted on the training split's returns only. The interval runs from the j-th smallest to the j-th "
         f"largest draw, so a calibrated model's coverage is {nominal_coverage(k):.3f} with K = {k} draws "
         "(exactly 0.9 when K + 1 is a multiple of 20)."),
        "\n".join([f"| model | CRPS, 1 step | coverage, 1 step |{cumulative} volatility ratio |",
                   "|---" * (5 if multi else 3) + "|---|", *rows]),
        "\n".join([f"Best one-step CRPS: {_name(best)}. Where the GAN loses, series by series:", "",
                   *series_verdicts(d)]),
        " ".join(skipped) or None,
    ]


def _score(d: dict[str, Any]) -> str:
    """A discriminative score as mean +- sd over its classifier seeds (older metrics: one seed)."""
    seeds = len(d.get("discriminative_score_per_seed", [0]))
    spread = f" ± {_fmt(d['discriminative_score_sd'], 2)} ({seeds} seeds)" if seeds > 1 else ""
    return f"{_fmt(d['discriminative_score'], 3)}{spread}"


SCENARIO_NAMES = {"real": "real test years", "gan": "GAN", "block_bootstrap": "block bootstrap",
                  "garch_t": "GARCH(1,1)-t"}
FACTS = (("volatility", "daily volatility", 3), ("volatility_ratio_to_training", "volatility / training years'", 3),
         ("excess_kurtosis", "excess kurtosis", 3), ("acf_abs_mean_1_10", "ACF of abs. returns, lags 1-10", 2),
         ("leverage_mean_1_10", "leverage corr(r, abs. r later), lags 1-10", 2))


def _closest(sc: dict[str, Any], sid: str) -> str:
    """Per fact, the model whose paths come closest to the real test years' value."""
    real, models = sc["real"][sid], sc["models"]
    parts = []
    for key, label, _ in FACTS[1:]:
        gap = {n: abs(m["per_series"][sid][key] - real[key]) for n, m in models.items()
               if np.isfinite(m["per_series"][sid][key])}
        if gap and np.isfinite(real[key]):
            parts.append(f"{label}: {SCENARIO_NAMES.get(min(gap, key=gap.get), min(gap, key=gap.get))}")
    return f"- {sid}, closest to the real test years in " + "; ".join(parts) + "."


def scenario_section(sc: dict[str, Any] | None) -> list[str]:
    """The GAN's long scenarios beside the classical baselines' and the real test years: facts and scores."""
    if not sc:
        return []
    header = "| series | paths | " + " | ".join(label for _, label, _ in FACTS) + " |"
    rows = []
    for sid, real in sc["real"].items():
        for name, facts in (("real", real), *((n, m["per_series"][sid]) for n, m in sc["models"].items())):
            rows.append(f"| {sid} | {SCENARIO_NAMES.get(name, name)} | "
                        + " | ".join(_fmt(facts[key], digits) for key, _, digits in FACTS) + " |")
    scores = {n: m["discriminative"] for n, m in sc["models"].items() if "discriminative" in m}
    best = min(scores, key=lambda n: scores[n]["discriminative_score"]) if scores else None
    return [
        (f"Long scenarios: {sc['paths']} paths per series and model, from the first test window to the end of "
         f"the data, against the real test years; the baselines are fitted on the training returns only."),
        "\n".join([header, "|---" * (len(FACTS) + 2) + "|", *rows]),
        "\n".join([f"- {SCENARIO_NAMES.get(n, n)}: discriminative score {_score(d)}" for n, d in scores.items()]
                  + ([f"- Hardest to tell from the real test years: {SCENARIO_NAMES.get(best, best)}."] if best
                     else [])),
        "\n".join(_closest(sc, sid) for sid in sc["real"]),
        " ".join(f"{reason}." for reason in sc.get("skipped", {}).values()) or None,
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
            (f"- Discriminative score: **{_score(d)}** (classifier accuracy "
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
            "pit": "One-step PIT histograms, GAN vs GARCH(1,1)-t (flat: calibrated)",
            "acf": "Autocorrelation of returns, and of absolute returns out to lag 100: real vs GAN vs GARCH",
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
        classical_sentence(metrics["baselines"].get("classical")), fig.get("pit"),
        "## Synthetic data", *synthetic_section(metrics["synthetic"]),
        *(fig.get(k) for k in ("synthetic_paths", "returns_hist")),
        "### Against the classical baselines", *scenario_section(metrics["synthetic"].get("scenarios")),
        *(fig.get(k) for k in ("acf", "projection")),
        "## Training", fig.get("training_curves", no_history),
    ]
    path = os.path.join(out_dir, "report.md")
    with open(path, "w") as fh:
        fh.write("\n\n".join(b for b in blocks if b) + "\n")
    return path
