"""Evaluation: metrics against hand-checked values, the TimeGAN scores tested on known cases, the full report."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from lstmgan_ray.cli.inference import evaluate_main
from lstmgan_ray.data.windows import split_sizes
from lstmgan_ray.errors import CheckpointError, ConfigError
from lstmgan_ray.evaluate.baselines import BASELINE_FILE, load_supervised_baseline
from lstmgan_ray.evaluate.options import EvaluateOptions
from lstmgan_ray.evaluate.run import run_evaluate
from lstmgan_ray.train.checkpoint import load_checkpoint
from tests.helpers import TRAINED_DAYS, tree_digest, unloadable_copy

T = 4  # tiny_config's window











def series_returns(frame) -> np.ndarray:
    return np.diff(np.log(frame["close"].to_numpy()))


def _png(path) -> bool:
    with open(path, "rb") as fh:
        if fh.read(8) != b"\x89PNG\r\n\x1a\n":
            return False
    with Image.open(path) as im:
        im.verify()
    return True


def test_evaluate_writes_metrics_figures_and_an_honest_report(trained, tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "report.md").write_text("an earlier report")
    (out / "stale.png").write_bytes(b"an earlier figure")
    summary = run_evaluate(trained.checkpoint, trained.data, str(out),
                           EvaluateOptions(paths=4, seq_len=6, baseline_epochs=1, classifier_epochs=1, max_lag=5,
                                           classifier_seeds=1, overwrite=True),
                           verbose=False)
    # --overwrite: the new evaluation replaced the old one whole, and nothing was left beside it.
    assert not (out / "stale.png").exists() and (out / "report.md").read_text() != "an earlier report"
    assert sorted(os.listdir(tmp_path)) == ["eval"]
    assert summary["out"] == str(out) and summary["report"] == str(out / "report.md")
    metrics = json.loads((out / "metrics.json").read_text())
    f = metrics["forecast"]
    n_test = split_sizes(TRAINED_DAYS - 1, (0.7, 0.15, 0.15))[2]
    assert f["windows"] == f["scored_steps"] == 2 * (n_test - T) and f["paths"] == 4
    for name in ("gan", "persistence", "supervised"):
        m = f["models"][name]
        assert set(m) == {"rmse", "mae", "mape", "directional_accuracy", "up_forecasts"}
        assert all(np.isfinite(v) and v > 0 for v in (m["rmse"], m["mae"], m["mape"]))
    assert f["models"]["persistence"]["directional_accuracy"] is None
    # Persistence, recomputed from the raw closes: each test target against the close before it.
    errors = np.concatenate([np.diff(fr["close"].to_numpy())[-(n_test - T):] for fr in trained.frames.values()])
    assert f["models"]["persistence"]["rmse"] == pytest.approx(np.sqrt(np.mean(errors ** 2)), rel=1e-9)
    assert summary["rmse"] == {k: v["rmse"] for k, v in f["models"].items()}
    # Diebold-Mariano, GAN vs persistence, per series on the test windows.
    for sid, dm in f["diebold_mariano"]["per_series"].items():
        assert dm["one_step"]["observations"] == n_test - T and 0 <= dm["one_step"]["pvalue"] <= 1, sid

    s = metrics["synthetic"]
    assert 0 <= s["discriminative"]["discriminative_score"] <= 0.5
    assert min(s["predictive"][k] for k in ("tstr_mae", "trtr_mae", "mean_mae")) > 0
    assert s["steps"] == n_test - T and s["paths"] == 4 and s["series_scored"] == sorted(trained.frames)
    for facts in s["stylised_facts"].values():
        for key in ("ks_statistic", "ks_pvalue", "kurtosis_real", "kurtosis_synthetic"):
            assert np.isfinite(facts[key]), key
        for key in ("acf_returns_real", "acf_returns_synthetic", "acf_abs_returns_real", "acf_abs_returns_synthetic"):
            assert len(facts[key]) == 5, key
    assert [h["epoch"] for h in metrics["training_history"]] == [1, 2, 3]
    # Long scenarios: the GAN's, the block bootstrap's and the GARCH's, as many and as long, against the real years.
    sc = s["scenarios"]
    assert set(sc["models"]) == {"gan", "block_bootstrap", "garch_t"} and sc["paths"] == 4
    assert sc["steps"] == {sid: n_test - T for sid in trained.frames}
    for name, m in sc["models"].items():
        score = m["discriminative"]
        assert len(score["discriminative_score_per_seed"]) == 1, name
        assert score["discriminative_score"] == pytest.approx(np.mean(score["discriminative_score_per_seed"]))
        assert set(m["per_series"]) == set(trained.frames)
    assert s["discriminative"]["discriminative_score_sd"] >= 0  # the GAN's existing key is the mean over seeds
    for sid, real in sc["real"].items():
        assert real["volatility"] == pytest.approx(np.std(series_returns(trained.frames[sid])[-(n_test - T):]))
        assert len(real["acf_abs"]) == min(100, n_test - T - 1)

    report = (out / "report.md").read_text()
    figures = ["forecast_fan.png", "pit.png", "synthetic_paths.png", "returns_hist.png", "acf.png", "projection.png",
               "training_curves.png"]
    assert sorted(summary["figures"]) == sorted(figures)
    for name in figures:
        assert _png(out / name), name
        assert f"]({name})" in report, name
    # The report says which is better, the way the numbers say it.
    gan, persistence = f["models"]["gan"]["rmse"], f["models"]["persistence"]["rmse"]
    verdict = "rmse: the GAN beats persistence" if gan < persistence else "rmse: **persistence beats the GAN**"
    assert verdict in report
    # ...and as distributions, against the distributional baselines on the same windows.
    d = f["distribution"]
    assert set(d["models"]) == {"gan", "iid_bootstrap", "block_bootstrap", "normal_train", "normal_recent", "garch_t"}
    assert 0 < d["windows"] <= f["windows"] and d["units"] == "log_return" and not d["skipped"]
    for m in d["models"].values():
        assert m["one_step"]["crps"] > 0 and 0 <= m["one_step"]["coverage90"] <= 1
        assert set(m["one_step"]["crps_per_series"]) == set(trained.frames)
        assert all(np.isfinite(v) and v > 0 for v in m["volatility_ratio"]["per_series"].values())
    # The classical baselines were fitted on the training split's returns only, one GARCH per series.
    classical = metrics["baselines"]["classical"]
    n_train = split_sizes(TRAINED_DAYS - 1, (0.7, 0.15, 0.15))[0]
    assert classical["training_returns"] == {sid: n_train for sid in trained.frames}
    assert set(classical["garch_t"]["per_series"]) == set(trained.frames)
    assert "## Forecast distributions" in report and "GAN (sampled paths)" in report
    assert "GARCH(1,1)-t, variance filtered to the window" in report
    assert "Diebold-Mariano test of the GAN's point forecast against persistence" in report
    pit = f["distribution"]["pit"]["per_series"]
    assert all(sum(p["gan"]) == sum(p["garch_t"]) > 0 for p in pit.values())
    for sid in trained.frames:  # one plain sentence per series on where the GAN loses
        assert sum(line.startswith(f"- {sid}: ") for line in report.splitlines()) == 1

    # The baseline it trained can be reused; a different architecture is refused, naming the file.
    loaded = load_checkpoint(trained.checkpoint)
    config, n_features = loaded.config, len(loaded.scaler["features"])
    weights = str(out / BASELINE_FILE)
    assert load_supervised_baseline(weights, config, n_features).count_params() > 0
    wider = {**config, "model": {**config["model"], "generator_units": [16, 8]}}
    with pytest.raises(CheckpointError, match=BASELINE_FILE):
        load_supervised_baseline(weights, wider, n_features)


def test_evaluate_refuses_bad_options_and_a_busy_output(trained, tmp_path, capsys):
    with pytest.raises(ConfigError, match="--seq-len must be >= 3(.|\n)*--holdout must be between 0 and 1"):
        run_evaluate(trained.checkpoint, trained.data, str(tmp_path / "a"), EvaluateOptions(seq_len=2, holdout=1.5))
    with pytest.raises(ConfigError, match="evaluate writes a local directory"):
        run_evaluate(trained.checkpoint, trained.data, "s3://bucket/eval")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "report.md").write_text("an earlier report")
    with pytest.raises(ConfigError, match="pass --overwrite"):
        run_evaluate(trained.checkpoint, trained.data, str(tmp_path / "busy"))
    assert (tmp_path / "busy" / "report.md").read_text() == "an earlier report"
    assert not os.path.exists(tmp_path / "a")
    # The command line: the same refusal is exit code 2 and one line on stderr.
    assert evaluate_main(["--checkpoint", trained.checkpoint, "--out", str(tmp_path / "busy")]) == 2
    assert "already holds files" in capsys.readouterr().err


def test_an_evaluation_that_fails_leaves_the_output_it_would_replace(trained, tmp_path):
    """--overwrite with a checkpoint whose generator passes the file checks but cannot be loaded: the
    evaluation fails once its actors start, long after it claimed --out; --out is as it was."""
    out = tmp_path / "eval"
    out.mkdir()
    (out / "report.md").write_text("an earlier report")
    before = tree_digest(out)
    broken = unloadable_copy(trained.checkpoint, tmp_path)
    with pytest.raises(Exception, match=f"{broken}/generator.keras: cannot be loaded"):
        run_evaluate(broken, trained.data, str(out), EvaluateOptions(paths=2, seq_len=6, overwrite=True),
                     verbose=False)
    assert tree_digest(out) == before
    assert sorted(os.listdir(tmp_path)) == ["eval", "unloadable"]
