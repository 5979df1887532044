"""Evaluate a checkpoint honestly: forecasts against baselines, synthetic paths against real ones.

The GAN's forecasts and synthetic paths come from the same Ray Data actors as
``jobs/generate.py``. Two baselines are scored on exactly the GAN's test
windows: persistence (the last value) and the checkpoint's generator
architecture trained here with the supervised loss alone (same optimizer
settings, global batch and, by default, as many epochs as the checkpoint had),
or a saved copy of it. Synthetic quality uses the TimeGAN scores and the
stylised facts of returns (``synthetic_metrics``). The output directory gets
``metrics.json``, PNG figures and ``report.md``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np
import pandas as pd

from lstmgan_ray.checkpoint import CheckpointError
from lstmgan_ray.config import ConfigError

BASELINE_FILE = "baseline_supervised.weights.h5"
METRICS_FILE = "metrics.json"


def check_options(out: str, *, paths: int, horizon: int | None, seq_len: int, holdout: float, max_lag: int,
                  baseline_epochs: int | None, baseline_model: str | None, classifier_epochs: int) -> None:
    """All option problems at once, before anything is read."""
    problems = []
    if "://" in out:
        problems.append(f"--out {out}: evaluate writes a local directory (figures and a report)")
    for name, value, low in (("--paths", paths, 2), ("--horizon", horizon, 1), ("--seq-len", seq_len, 3),
                             ("--max-lag", max_lag, 1), ("--baseline-epochs", baseline_epochs, 1),
                             ("--classifier-epochs", classifier_epochs, 1)):
        if value is not None and value < low:
            problems.append(f"{name} must be >= {low}, got {value}")
    if not 0 < holdout < 1:
        problems.append(f"--holdout must be between 0 and 1, got {holdout}")
    if baseline_model is not None and not os.path.isfile(baseline_model):
        problems.append(f"--baseline-model {baseline_model}: no such file")
    if problems:
        raise ConfigError("invalid options:\n  " + "\n  ".join(problems))


def columns(ds) -> dict[str, np.ndarray]:
    """A (small, materialised) Ray Dataset as NumPy columns on the driver."""
    batches = [b for b in ds.iter_batches(batch_size=None, batch_format="numpy") if len(next(iter(b.values())))]
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]} if batches else {}


def sort_windows(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
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


# -- the supervised-only baseline -------------------------------------------------------

def _with_noise(x: np.ndarray, noise_dim: int) -> np.ndarray:
    """The generator's input at zero noise: its point forecast, as the GAN's is scored."""
    return np.concatenate([x, np.zeros((*x.shape[:2], noise_dim), x.dtype)], axis=-1)


def train_supervised_baseline(config: dict[str, Any], feature_size: int, x: np.ndarray, y: np.ndarray, *,
                              epochs: int, seed: int = 0, verbose: bool = True):
    """The checkpoint's generator architecture trained on the supervised loss alone.

    Same layers, optimizer settings, global batch and supervised loss as the GAN's
    training (``config`` is the checkpoint's); only the adversarial term is missing.
    """
    import keras

    from lstmgan_ray.losses import supervised_loss

    t, noise_dim = config["train"], config["model"]["noise_dim"]
    keras.utils.set_random_seed(seed)
    generator = generator_architecture(config, feature_size)
    generator.compile(optimizer=keras.optimizers.Adam(t["g_learning_rate"], beta_1=t["beta_1"], beta_2=t["beta_2"]),
                      loss=lambda real, fake: supervised_loss(real, fake, t["supervised_loss"]))

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if verbose:
                print(f"  supervised baseline epoch {epoch + 1}/{epochs}  loss {logs['loss']:.4f}", flush=True)

    generator.fit(_with_noise(x, noise_dim), y, batch_size=t["batch_size"], epochs=epochs, shuffle=True,
                  verbose=0, callbacks=[Progress()])
    return generator


def generator_architecture(config: dict[str, Any], feature_size: int):
    """A fresh, untrained generator of the checkpoint's architecture."""
    from lstmgan_ray.models import build_models

    d = config["data"]
    return build_models(config["model"], d["input_dim"], d["output_dim"], feature_size)[0]


def save_supervised_baseline(model, config: dict[str, Any], feature_size: int, path: str) -> str:
    """Weights only, without the optimizer's state (which would triple the file)."""
    clean = generator_architecture(config, feature_size)
    clean.set_weights(model.get_weights())
    clean.save_weights(path)
    return path


def load_supervised_baseline(path: str, config: dict[str, Any], feature_size: int):
    """The baseline an earlier evaluation saved (``baseline_supervised.weights.h5``), rebuilt for this checkpoint.

    Only weights are stored: the architecture is the checkpoint's, so a file from a
    different network fails here, naming the file.
    """
    model = generator_architecture(config, feature_size)
    try:
        model.load_weights(path)
    except Exception as err:  # noqa: BLE001 -- h5py and Keras raise many types for a wrong or damaged file
        raise CheckpointError(f"{path}: not the weights of this checkpoint's generator "
                              f"({type(err).__name__}: {str(err).splitlines()[0]})") from None
    return model


def baseline_forecasts(model, windows: dict[str, np.ndarray], *, noise_dim: int, horizon: int, target_index: int,
                       transform: str) -> np.ndarray:
    """``[N, H]`` forecasts in original units, rolled out exactly as the GAN's are."""
    from lstmgan_ray.generate import rollout, to_original_units

    def step(w, _index):
        return model.predict(_with_noise(w, noise_dim), batch_size=4096, verbose=0)

    values = rollout(step, windows["x"], windows["hold"], horizon, target_index)
    return to_original_units(values, windows["last"], windows["mu"], windows["sd"], transform)


# -- the pieces of the evaluation ---------------------------------------------------------

def forecast_metrics(windows: dict[str, np.ndarray], sampled: np.ndarray, point: np.ndarray,
                     supervised: np.ndarray) -> dict[str, Any]:
    """Accuracy of the three forecasts on the same test windows, overall and per series."""
    from lstmgan_ray.forecast_metrics import (
        interval_coverage,
        point_metrics,
        up_share,
        verdicts,
    )

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
            "gan_interval_coverage_90": interval_coverage(sampled, actual, 0.9), "per_series": per_series}


def synthetic_returns(rows: pd.DataFrame, seeds: dict[str, np.ndarray], transform: str) -> dict[str, dict]:
    """Per series: real and synthetic returns over the steps where the real value is known.

    Returns are the target's transform (log returns by default) of consecutive values,
    starting from the seed window's last real value; ``*_scaled`` use the checkpoint's
    target scaler, the space the generator works in.
    """
    from lstmgan_ray.data import transform_column

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
                    "real_scaled": (real - mu) / sd, "synthetic_scaled": [(s - mu) / sd for s in synth]}
    return out


def synthetic_metrics(series: dict[str, dict], *, seq_len: int, holdout: float, max_lag: int, epochs: int,
                      seed: int, paths: int, steps: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """TimeGAN scores and stylised facts; also returns the held-out windows for the projection figure."""
    from lstmgan_ray.synthetic_metrics import (
        discriminative_score,
        predictive_scores,
        split_windows,
        stylised_facts,
    )

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
        "discriminative": discriminative_score(real_fit, fake_fit, real_held, fake_held, **kwargs),
        "predictive": predictive_scores(real_fit, fake_fit, real_held, **kwargs),
        "stylised_facts": {sid: stylised_facts(s["real"], s["synthetic"], max_lag) for sid, s in series.items()},
    }
    return metrics, {"real": real_held, "synthetic": fake_held}


def fan_series(windows: dict[str, np.ndarray], sampled: np.ndarray, point: np.ndarray,
               supervised: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """One-step-ahead arrays per series for the fan figure."""
    q = np.quantile(sampled[:, :, 0], [0.05, 0.25, 0.75, 0.95], axis=1)
    out = {}
    for sid in np.unique(windows["series_id"].astype(str)):
        m = windows["series_id"].astype(str) == sid
        out[sid] = {"time": windows["timestamp"][m], "actual": windows["future_actual"][m, 0],
                    "point": point[m, 0], "supervised": supervised[m, 0],
                    **{name: q[i][m] for i, name in enumerate(("q05", "q25", "q75", "q95"))}}
    return out


# -- the driver -------------------------------------------------------------------------

def run_evaluate(checkpoint: str, data: str | None, out: str, *, paths: int = 50, horizon: int | None = None,
                 seq_len: int = 24, holdout: float = 0.2, max_lag: int = 20, baseline_epochs: int | None = None,
                 baseline_model: str | None = None, classifier_epochs: int = 40, tsne: bool = True, seed: int = 0,
                 batch_size: int = 128, concurrency: int = 1, num_cpus: float = 1.0, num_gpus: float = 0.0,
                 overwrite: bool = False, verbose: bool = True) -> dict[str, Any]:
    """Run the whole evaluation into ``out``; returns the summary (paths and headline metrics).

    Args:
        checkpoint, data: as for ``generate.run_generate``.
        out: local directory for ``metrics.json``, the figures and ``report.md``; refused when
            it holds files unless ``overwrite``.
        paths: sampled paths per test window (the fan) and synthetic paths per series.
        horizon: forecast steps per window (default: the checkpoint's ``output_dim``).
        seq_len, holdout: window length and held-out tail fraction for the TimeGAN scores.
        max_lag: autocorrelation lags in the stylised facts.
        baseline_epochs: epochs for the supervised-only baseline (default: the checkpoint's epoch).
        baseline_model: a saved baseline to score instead of training one.
        classifier_epochs: training epochs of the post-hoc classifier and predictors.
        tsne: add a t-SNE projection beside the PCA one.
    """
    from lstmgan_ray import report
    from lstmgan_ray.data import only_split
    from lstmgan_ray.generate import check_options as check_generation
    from lstmgan_ray.generate import count_windows, generate_dataset, start_inference
    from lstmgan_ray.inference_data import (
        claim_output,
        open_inputs,
        resolve_path,
        steps_to_end,
        window_dataset,
    )

    check_options(out, paths=paths, horizon=horizon, seq_len=seq_len, holdout=holdout, max_lag=max_lag,
                  baseline_epochs=baseline_epochs, baseline_model=baseline_model,
                  classifier_epochs=classifier_epochs)
    check_generation("forecast", paths, horizon, "test", batch_size, concurrency, num_cpus, num_gpus)
    started = time.perf_counter()
    inputs = open_inputs(checkpoint, data)
    out = resolve_path(out)
    claim_output(out, overwrite)  # after the inputs are known good: --overwrite never empties it for nothing
    os.makedirs(out, exist_ok=True)

    def say(message: str) -> None:
        if verbose:
            print(f"evaluate [{time.perf_counter() - started:6.1f}s] {message}", flush=True)

    scalers = start_inference(inputs, concurrency=concurrency, num_cpus=num_cpus, num_gpus=num_gpus)
    cfg, spec, transform = inputs.config, inputs.spec, inputs.config["data"]["target_transform"]
    H = horizon or spec["output_dim"]
    steps = steps_to_end(scalers, "test", spec["input_dim"])
    if steps * holdout < seq_len:
        raise ConfigError(f"--seq-len {seq_len}: the test split's longest synthetic path has {steps} steps, whose "
                          f"held-out {holdout:.0%} is shorter than one window; lower --seq-len or --holdout")
    # One pass for the training windows (the baseline's) and the test windows (everyone's forecasts).
    both = window_dataset(inputs, scalers, splits=("train", "test"), horizon=H)
    test_ds = both.map_batches(only_split, fn_kwargs={"name": "test"}, batch_format="pandas").materialize()
    count_windows(test_ds, inputs, "test split")
    windows = sort_windows(columns(test_ds))
    actors = {"batch_size": batch_size, "concurrency": concurrency, "num_cpus": num_cpus, "num_gpus": num_gpus,
              "seed": seed}

    say(f"GAN forecasts: {paths} paths x {H} step(s) for each of {len(windows['last'])} test windows")
    rows = generate_dataset(test_ds, inputs.checkpoint, paths=paths, horizon=H, **actors).to_pandas()
    sampled, point = path_arrays(rows, windows, paths, H)

    say(f"synthetic paths: {paths} per series, {steps} steps from the first test window")
    seeds_ds = window_dataset(inputs, scalers, splits=("test",), horizon=steps, first_only=True)
    seeds = sort_windows(columns(seeds_ds))
    syn_rows = generate_dataset(seeds_ds, inputs.checkpoint, paths=paths, horizon=steps, point=False,
                                **actors).to_pandas()

    feature_size = len(spec["features"])
    if baseline_model:
        say(f"supervised-only baseline: loading {baseline_model}")
        model = load_supervised_baseline(baseline_model, cfg, feature_size)
        baseline_info = {"source": f"loaded from {baseline_model}", "epochs": None, "train_windows": None}
    else:
        epochs = baseline_epochs or int(inputs.state.get("epoch") or cfg["train"]["epochs"])
        train = columns(both.map_batches(only_split, fn_kwargs={"name": "train"}, batch_format="pandas"))
        say(f"supervised-only baseline: training {epochs} epoch(s) on {len(train['y'])} training windows")
        model = train_supervised_baseline(cfg, feature_size, train["x"], train["y"], epochs=epochs, seed=seed,
                                          verbose=verbose)
        save_supervised_baseline(model, cfg, feature_size, os.path.join(out, BASELINE_FILE))
        baseline_info = {"source": f"trained in this evaluation, saved as {BASELINE_FILE}", "epochs": epochs,
                         "train_windows": len(train["y"])}
    supervised = baseline_forecasts(model, windows, noise_dim=cfg["model"]["noise_dim"], horizon=H,
                                    target_index=spec["target_index"], transform=transform)

    say("forecast metrics")
    forecast = forecast_metrics(windows, sampled, point, supervised)
    say(f"synthetic-data metrics (post-hoc GRUs, {classifier_epochs} epochs each)")
    series = synthetic_returns(syn_rows, seeds, transform)
    synthetic, held = synthetic_metrics(series, seq_len=seq_len, holdout=holdout, max_lag=max_lag,
                                        epochs=classifier_epochs, seed=seed, paths=paths, steps=steps)

    say("figures and report")
    figures = {
        "forecast_fan": report.fan_figure(fan_series(windows, sampled, point, supervised),
                                          os.path.join(out, "forecast_fan.png")),
        "synthetic_paths": report.paths_figure(series, os.path.join(out, "synthetic_paths.png")),
        "returns_hist": report.returns_figure(
            {sid: (s["real"], np.concatenate(s["synthetic"])) for sid, s in series.items()},
            os.path.join(out, "returns_hist.png")),
        "acf": report.acf_figure(synthetic["stylised_facts"], os.path.join(out, "acf.png")),
        "projection": report.projection_figure(held["real"], held["synthetic"], os.path.join(out, "projection.png"),
                                               tsne=tsne, seed=seed),
    }
    history = training_history(inputs.checkpoint)
    if history:
        figures["training_curves"] = report.training_figure(history, os.path.join(out, "training_curves.png"),
                                                            epoch=inputs.state.get("epoch"))
    metrics = {
        "checkpoint": inputs.checkpoint, "checkpoint_epoch": inputs.state.get("epoch"), "data": inputs.data_cfg["path"],
        "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "seconds": time.perf_counter() - started,
        "forecast": forecast, "synthetic": synthetic, "baselines": {"supervised": baseline_info},
        "training_history": history,
        "figures": {k: os.path.basename(v) for k, v in figures.items()},
        "settings": {"paths": paths, "horizon": H, "seq_len": seq_len, "holdout": holdout, "max_lag": max_lag,
                     "classifier_epochs": classifier_epochs, "seed": seed, "tsne": tsne},
    }
    report_path = report.write_report(out, metrics, figures)
    with open(os.path.join(out, METRICS_FILE), "w") as fh:
        json.dump(metrics, fh, indent=1, default=_json_default)
    say(f"wrote {out}")
    models = forecast["models"]
    return {"out": out, "report": report_path, "metrics": os.path.join(out, METRICS_FILE),
            "figures": sorted(os.path.basename(v) for v in figures.values()),
            "rmse": {name: m["rmse"] for name, m in models.items()},
            "discriminative_score": synthetic["discriminative"]["discriminative_score"],
            "tstr_mae": synthetic["predictive"]["tstr_mae"], "trtr_mae": synthetic["predictive"]["trtr_mae"],
            "seconds": round(time.perf_counter() - started, 2)}


def training_history(checkpoint: str) -> list[dict[str, Any]]:
    """The per-epoch metrics of the run the checkpoint came from (its parent directory), if there."""
    from lstmgan_ray.progress import read_history

    return read_history(os.path.dirname(checkpoint.rstrip("/")))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
