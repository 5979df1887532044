"""Evaluate a checkpoint honestly: forecasts against baselines, synthetic paths against real ones.

The GAN's forecasts and synthetic paths come from the same Ray Data actors as
``jobs/generate.py``. Two baselines are scored on exactly the GAN's test
windows: persistence (the last value) and the checkpoint's generator
architecture trained with the supervised loss alone (``baselines``). As
distributions, the sampled forecasts meet the classical generative baselines on the
same windows and dates, with as many draws: bootstraps, normals and a GARCH(1,1)-t
fitted on each series' training returns (``distribution``, ``classical``). Synthetic
quality uses the TimeGAN scores and the stylised facts of returns
(``synthetic_metrics``), beside the block bootstrap's and the GARCH's long scenarios
(``scenarios``). The output directory gets ``metrics.json``, PNG figures and
``report.md``.

``run_evaluate`` is a list of named stages (prepare, forecast, baselines,
synthetic, report), each small enough to read on its own; what they share
travels in ``Setup``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstmgan_ray.data.inference import (
    InferenceInputs,
    steps_to_end,
    window_dataset,
)
from lstmgan_ray.data.pipeline import only_split
from lstmgan_ray.data.windows import vol_channel, vol_filter, window_channels
from lstmgan_ray.errors import ConfigError
from lstmgan_ray.evaluate import figures as draw
from lstmgan_ray.evaluate import report
from lstmgan_ray.evaluate.baselines import (
    BASELINE_FILE,
    baseline_forecasts,
    load_supervised_baseline,
    save_supervised_baseline,
    train_supervised_baseline,
)
from lstmgan_ray.evaluate.classical import Classical, fit_classical, forecast_draws
from lstmgan_ray.evaluate.distribution import distribution_scores
from lstmgan_ray.evaluate.generate import (
    claim_out,
    count_windows,
    generate_dataset,
    start_inference,
    to_original_units,
)
from lstmgan_ray.evaluate.history import read_series_history
from lstmgan_ray.evaluate.inputs import open_inputs
from lstmgan_ray.evaluate.options import EvaluateOptions, check_out
from lstmgan_ray.evaluate.scenarios import compare_scenarios
from lstmgan_ray.evaluate.scoring import (
    fan_series,
    forecast_metrics,
    horizon_fan_series,
    synthetic_metrics,
    synthetic_returns,
)
from lstmgan_ray.storage import parent, staged_output, write_atomic
from lstmgan_ray.train.feed import FeedPrinter
from lstmgan_ray.train.progress import read_history

METRICS_FILE = "metrics.json"


class Progress:
    """Timestamped progress lines: an evaluation takes minutes, and users should see which part is slow."""

    def __init__(self, verbose: bool):
        self.verbose, self.started = verbose, time.perf_counter()
        self.printer: FeedPrinter | None = None  # the generator actors' windows, counted on the console

    @property
    def feed(self):
        return self.printer.feed if self.printer is not None and self.verbose else None

    def track(self, label: str, total: int) -> None:
        if self.feed is not None:
            self.printer.track(label, total)

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def __call__(self, message: str) -> None:
        if self.verbose:
            if self.printer is not None:
                self.printer.end_track()
            print(f"evaluate [{self.seconds():6.1f}s] {message}", flush=True)


@dataclass
class Setup:
    """What every stage reads: the checked inputs, the series' scalers and the test windows."""

    inputs: InferenceInputs
    scalers: dict[str, dict[str, Any]]
    horizon: int  # forecast steps per test window
    steps: int  # synthetic path length: first test window to the end of the data
    windows_ds: Any  # train and test windows (Ray Dataset, materialised)
    test_ds: Any  # test windows only (Ray Dataset, materialised)
    windows: dict[str, np.ndarray]  # test windows on the driver, sorted by series and origin
    classical: Classical  # the classical baselines, fitted on each series' training returns


def columns(ds) -> dict[str, np.ndarray]:
    """A (small, materialised) Ray Dataset as NumPy columns on the driver."""
    batches = [b for b in ds.iter_batches(batch_size=None, batch_format="numpy") if len(next(iter(b.values())))]
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]} if batches else {}


def sort_windows(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """By series and origin: Ray returns blocks in any order, and every score compares aligned arrays."""
    order = np.lexsort((w["origin"], w["series_id"].astype(str)))
    return {k: v[order] for k, v in w.items()}


def path_arrays(rows: pd.DataFrame, windows: dict[str, np.ndarray], paths: int, horizon: int):
    """Generated rows back to arrays aligned with the (sorted) windows: ``[N, K, H]`` sampled, ``[N, H]`` point."""
    rows = rows.sort_values(["series_id", "origin", "path", "step"], kind="stable")
    n = len(windows["last"])
    if len(rows) != n * paths * horizon:
        raise RuntimeError(f"generated {len(rows)} rows, expected {n} windows x {paths} paths x {horizon} steps")
    keys = rows.iloc[::paths * horizon]
    if not ((keys["series_id"].to_numpy() == windows["series_id"].astype(str)).all()
            and (keys["origin"].to_numpy("datetime64[us]") == windows["origin"].astype("datetime64[us]")).all()):
        raise RuntimeError("generated rows do not line up with the windows they came from")
    sampled = rows["value"].to_numpy().reshape(n, paths, horizon)
    point = rows["point"].to_numpy().reshape(n, paths, horizon)[:, 0]
    return sampled, point


# -- the stages ---------------------------------------------------------------------------

def prepare(inputs: InferenceInputs, o: EvaluateOptions, say: Progress) -> Setup:
    """Ray, the series' scalers, the windows and the classical baselines; one pass cuts both the training
    windows (the baseline's) and the test windows (everyone's forecasts), and a test split too short for
    the TimeGAN scores is refused here, before minutes of generation."""
    scalers = start_inference(inputs, o)
    horizon = o.horizon or inputs.spec["output_dim"]
    steps = steps_to_end(scalers, "test", inputs.spec["input_dim"])
    if steps * o.holdout < o.seq_len:
        raise ConfigError(f"--seq-len {o.seq_len}: the test split's longest synthetic path has {steps} steps, whose "
                          f"held-out {o.holdout:.0%} is shorter than one window; lower --seq-len or --holdout")
    both = window_dataset(inputs, scalers, splits=("train", "test"), horizon=horizon)
    test_ds = both.map_batches(only_split, fn_kwargs={"name": "test"}, batch_format="pandas").materialize()
    count_windows(test_ds, inputs, "test split")
    say("classical baselines: block bootstrap and GARCH(1,1)-t, fitted on each series' training returns")
    classical = fit_classical(read_series_history(inputs, scalers))
    if classical.skipped:
        say(classical.skipped)
    return Setup(inputs, scalers, horizon, steps, both, test_ds, sort_windows(columns(test_ds)), classical)


def forecast(setup: Setup, o: EvaluateOptions, say: Progress) -> tuple[np.ndarray, np.ndarray]:
    """The GAN's sampled paths ``[N, K, H]`` (its fan) and zero-noise forecast ``[N, H]`` (what is scored
    against the baselines) for every test window, from the same actors as ``generate``."""
    H = setup.horizon
    say(f"GAN forecasts: {o.paths} paths x {H} step(s) for each of {len(setup.windows['last'])} test windows")
    say.track("GAN forecasts", len(setup.windows["last"]))
    rows = generate_dataset(setup.test_ds, setup.inputs.checkpoint, paths=o.paths, horizon=H, feed=say.feed,
                            **o.actors()).to_pandas()
    return path_arrays(rows, setup.windows, o.paths, H)


def baselines(setup: Setup, o: EvaluateOptions, out: str, say: Progress) -> tuple[np.ndarray, dict[str, Any]]:
    """The supervised-only baseline's test forecasts ``[N, H]``, and where it came from (loaded or trained).

    A trained baseline is saved into ``out`` (the staging directory swapped in at the end), so a later
    run can pass it as ``--baseline-model``.
    """
    inputs = setup.inputs
    cfg, spec, feature_size = inputs.config, inputs.spec, window_channels(inputs.spec, len(inputs.spec["features"]))
    if o.baseline_model:
        say(f"supervised-only baseline: loading {o.baseline_model}")
        model = load_supervised_baseline(o.baseline_model, cfg, feature_size)
        info = {"source": f"loaded from {o.baseline_model}", "epochs": None, "train_windows": None}
    else:
        epochs = o.baseline_epochs or int(inputs.state.get("epoch") or cfg["train"]["epochs"])
        train = columns(setup.windows_ds.map_batches(only_split, fn_kwargs={"name": "train"}, batch_format="pandas"))
        say(f"supervised-only baseline: training {epochs} epoch(s) on {len(train['y'])} training windows")
        model = train_supervised_baseline(cfg, feature_size, train["x"], train["y"], epochs=epochs, seed=o.seed,
                                          verbose=say.verbose)
        save_supervised_baseline(model, cfg, feature_size, os.path.join(out, BASELINE_FILE))
        info = {"source": f"trained in this evaluation, saved as {BASELINE_FILE}", "epochs": epochs,
                "train_windows": len(train["y"])}
    supervised = baseline_forecasts(model, setup.windows, noise_dim=cfg["model"]["noise_dim"], horizon=setup.horizon,
                                    target_index=spec["target_index"], transform=cfg["data"]["target_transform"],
                                    vol_filter=vol_filter(cfg["data"]),
                                    vol_index=vol_channel(cfg["data"], len(spec["features"])))
    return supervised, info


def training_changes(setup: Setup) -> dict[str, np.ndarray]:
    """Per series, the training split's one-step changes in transformed units: what every
    distributional baseline is fitted on or draws from."""
    return {sid: h.train for sid, h in setup.classical.history.items()}


def distributions(setup: Setup, o: EvaluateOptions, sampled: np.ndarray) -> dict[str, Any]:
    """The GAN's draws against the distributional baselines, each with as many draws per window."""
    w, c = setup.windows, setup.classical
    drawn = forecast_draws(c, w["series_id"], w["origin"], o.paths, setup.horizon, seed=o.seed)
    return distribution_scores(w, sampled, training_changes(setup), setup.inputs.config["data"]["target_transform"],
                               seed=o.seed, classical=drawn, skipped={"garch_t": c.skipped} if c.skipped else None)


def synthetic(setup: Setup, o: EvaluateOptions, say: Progress) -> tuple[dict[str, Any], dict, dict]:
    """Whole paths from each series' first test window, scored: (metrics, per-series returns, held-out windows).

    Paths start at the test split so they are compared with real data the generator never saw; the
    classical baselines' scenarios start there too, as many and as long as the GAN's (``scenarios``).
    """
    inputs, steps = setup.inputs, setup.steps
    say(f"synthetic paths: {o.paths} per series, {steps} steps from the first test window")
    seeds_ds = window_dataset(inputs, setup.scalers, splits=("test",), horizon=steps, first_only=True)
    seeds = sort_windows(columns(seeds_ds))
    say.track("synthetic paths", len(seeds["last"]))
    rows = generate_dataset(seeds_ds, inputs.checkpoint, paths=o.paths, horizon=steps, point=False, feed=say.feed,
                            **o.actors()).to_pandas()
    say(f"synthetic-data metrics (post-hoc GRUs, {o.classifier_epochs} epochs each; discriminative score over "
        f"{o.classifier_seeds} classifier seed(s))")
    series = synthetic_returns(rows, seeds, inputs.config["data"]["target_transform"])
    metrics, held = synthetic_metrics(series, seq_len=o.seq_len, holdout=o.holdout, max_lag=o.max_lag,
                                      epochs=o.classifier_epochs, seed=o.seed, paths=o.paths, steps=steps,
                                      classifier_seeds=o.classifier_seeds)
    say(f"scenario baselines: {', '.join(setup.classical.models())} paths, scored like the GAN's")
    metrics["scenarios"], drawn = compare_scenarios(
        setup.classical, dict(zip(seeds["series_id"].astype(str), seeds["origin"], strict=True)), series,
        metrics, paths=o.paths, seq_len=o.seq_len, holdout=o.holdout, epochs=o.classifier_epochs,
        seeds=[o.seed + i for i in range(o.classifier_seeds)])
    starts = dict(zip(seeds["series_id"].astype(str), seeds["last"], strict=True))
    for sid, paths in drawn.get("garch_t", {}).items():  # one GARCH scenario, beside the GAN's in the figure
        series[sid]["garch_path"] = to_original_units(paths[:1], np.array([starts[sid]]), np.zeros(1),
                                                      np.ones(1), inputs.config["data"]["target_transform"])[0]
    return metrics, series, held


def figures(setup: Setup, o: EvaluateOptions, out: str, fan: dict, series: dict, scores: dict[str, Any],
            held: dict, history: list[dict[str, Any]], sampled: np.ndarray | None = None) -> dict[str, str]:
    """Every PNG of the report, by name; the training curves only when the run's history is there, and
    the H-step fans only for forecasts of more than one step (``sampled`` ``[N, K, H]``)."""
    synthetic_scores = scores["synthetic"]
    drawn = {
        "forecast_fan": draw.fan_figure(fan, os.path.join(out, "forecast_fan.png")),
        "pit": draw.pit_figure(scores["forecast"]["distribution"]["pit"], os.path.join(out, "pit.png")),
        "synthetic_paths": draw.paths_figure(series, os.path.join(out, "synthetic_paths.png")),
        "returns_hist": draw.returns_figure(
            {sid: (s["real"], np.concatenate(s["synthetic"])) for sid, s in series.items()},
            os.path.join(out, "returns_hist.png")),
        "acf": draw.acf_figure(synthetic_scores["stylised_facts"], os.path.join(out, "acf.png"),
                               synthetic_scores["scenarios"]),
        "projection": draw.projection_figure(held["real"], held["synthetic"], os.path.join(out, "projection.png"),
                                               tsne=o.tsne, seed=o.seed),
    }
    if sampled is not None and sampled.shape[2] > 1:
        drawn["horizon_fan"] = draw.horizon_fan_figure(horizon_fan_series(setup.windows, sampled),
                                                       os.path.join(out, "horizon_fan.png"))
    if history:
        drawn["training_curves"] = draw.training_figure(history, os.path.join(out, "training_curves.png"),
                                                          epoch=setup.inputs.state.get("epoch"))
    return drawn


def write_results(setup: Setup, o: EvaluateOptions, out: str, scores: dict[str, Any], drawn: dict[str, str],
                  history: list[dict[str, Any]], say: Progress, final: str | None = None) -> dict[str, Any]:
    """``metrics.json`` and ``report.md`` into ``out``; returns the job's summary (the CLI's last stdout
    line), whose paths are in ``final``, where ``out`` (a staging directory) will be swapped in."""
    final = final or out
    inputs, forecast_scores, synthetic_scores = setup.inputs, scores["forecast"], scores["synthetic"]
    metrics = {
        "checkpoint": inputs.checkpoint, "checkpoint_epoch": inputs.state.get("epoch"), "data": inputs.data_cfg["path"],
        "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "seconds": say.seconds(),
        **scores, "training_history": history, "figures": {k: os.path.basename(v) for k, v in drawn.items()},
        "settings": {"paths": o.paths, "horizon": setup.horizon, "seq_len": o.seq_len, "holdout": o.holdout,
                     "max_lag": o.max_lag, "classifier_epochs": o.classifier_epochs,
                     "classifier_seeds": o.classifier_seeds, "seed": o.seed, "tsne": o.tsne},
    }
    report_path = os.path.join(final, os.path.basename(report.write_report(out, metrics, drawn)))
    write_atomic(os.path.join(out, METRICS_FILE), json.dumps(metrics, indent=1, default=_json_default))
    return {"out": final, "report": report_path, "metrics": os.path.join(final, METRICS_FILE),
            "figures": sorted(os.path.basename(v) for v in drawn.values()),
            "rmse": {name: m["rmse"] for name, m in forecast_scores["models"].items()},
            "discriminative_score": synthetic_scores["discriminative"]["discriminative_score"],
            "tstr_mae": synthetic_scores["predictive"]["tstr_mae"],
            "trtr_mae": synthetic_scores["predictive"]["trtr_mae"], "seconds": round(say.seconds(), 2)}


def run_evaluate(checkpoint: str, data: str | None, out: str, options: EvaluateOptions | None = None, *,
                 inputs: InferenceInputs | None = None, verbose: bool = True) -> dict[str, Any]:
    """Run the whole evaluation into ``out``; returns the summary (paths and headline metrics).

    Args:
        checkpoint, data: as for ``generate.run_generate``.
        out: local directory for ``metrics.json``, the figures and ``report.md``; refused when
            it holds files unless ``options.overwrite``, and replaced only by a complete evaluation
            (written beside it, then swapped in).
        options: see ``EvaluateOptions`` (default: all defaults).
        inputs: ``open_inputs(checkpoint, data)`` when the caller has already checked them.
    """
    o = options or EvaluateOptions()
    check_out(out)
    say = Progress(verbose)
    inputs = inputs or open_inputs(checkpoint, data)
    out = claim_out(out, o.overwrite)
    setup = prepare(inputs, o, say)
    with staged_output(out) as staged, FeedPrinter() as say.printer:  # ``out`` replaced only when complete
        sampled, point = forecast(setup, o, say)
        supervised, baseline_info = baselines(setup, o, staged, say)
        say("forecast metrics")
        forecast_scores = forecast_metrics(setup.windows, sampled, point, supervised)
        forecast_scores["distribution"] = distributions(setup, o, sampled)
        synthetic_scores, series, held = synthetic(setup, o, say)
        say("figures and report")
        history = training_history(inputs.checkpoint)
        scores = {"forecast": forecast_scores, "synthetic": synthetic_scores,
                  "baselines": {"supervised": baseline_info, "classical": setup.classical.summary()}}
        drawn = figures(setup, o, staged, fan_series(setup.windows, sampled, point, supervised), series, scores,
                        held, history, sampled)
        summary = write_results(setup, o, staged, scores, drawn, history, say, final=out)
    say(f"wrote {out}")
    return summary


def training_history(checkpoint: str) -> list[dict[str, Any]]:
    """The per-epoch metrics of the run the checkpoint came from (its parent directory), if there."""
    return read_history(parent(checkpoint))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
