"""Batch generation: rollout semantics, the Parquet it writes in both modes, and bad input.

They use the session's tiny trained run (conftest ``trained``): the bundled data's last 600
days of each series, long enough for a test split of ~90 days.
"""

import os
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lstmgan_ray.cli.inference import generate_main
from lstmgan_ray.data.contract import make_spec
from lstmgan_ray.data.windows import series_windows, split_sizes
from lstmgan_ray.errors import CheckpointError, ConfigError, DataError
from lstmgan_ray.evaluate.generate import OUTPUT_COLUMNS, run_generate
from lstmgan_ray.evaluate.options import GenerateOptions
from lstmgan_ray.train.checkpoint import GENERATOR_FILE, load_checkpoint
from tests.helpers import TRAINED_DAYS, last_json, tree_digest, unloadable_copy, write_dataset

T = 4  # tiny_config's window


def leftovers(out) -> list[str]:
    """Staging or set-aside directories beside ``out``."""
    return [n for n in os.listdir(os.path.dirname(out)) if ".staging-" in n or ".replaced-" in n]


def _test_windows_reference(trained, loaded) -> pd.DataFrame:
    """The training pipeline's pure windowing of each raw series, with the checkpoint's scaler."""
    scaler = loaded.scaler
    spec = make_spec(loaded.config["data"], scaler["features"], scaler["transforms"])
    parts = []
    for sid, frame in trained.frames.items():
        w = series_windows(frame, spec, scaler["series"][sid])
        test = w["split"] == "test"
        parts.append(pd.DataFrame({"series_id": sid, "timestamp": w["timestamp"][test], "last": w["last"][test],
                                   "mu": w["mu"][test], "sd": w["sd"][test], "vol": w["vol"][test],
                                   "y": w["y"][test, 0],
                                   "x": list(w["x"][test])}))
    return pd.concat(parts, ignore_index=True)


def test_forecast_writes_documented_parquet_in_original_units(trained, tmp_path):
    out = tmp_path / "fc"
    out.mkdir()
    (out / "part-old.parquet").write_bytes(b"an earlier output, which --overwrite replaces")
    summary = run_generate(trained.checkpoint, trained.data, str(out),
                           GenerateOptions(mode="forecast", paths=3, horizon=2, batch_size=64, overwrite=True),
                           verbose=False)
    # Replaced whole: the old file is gone and nothing was left beside the output.
    assert not (out / "part-old.parquet").exists() and not leftovers(out) and summary["out"] == str(out)
    df = pq.read_table(out).to_pandas()
    assert tuple(df.columns) == OUTPUT_COLUMNS
    # Rows: every test window x 3 paths x 2 steps; test windows counted from the split sizes.
    n_windows = sum(split_sizes(len(f) - 1, (0.7, 0.15, 0.15))[2] - T for f in trained.frames.values())
    assert summary["rows"] == len(df) == n_windows * 3 * 2
    assert summary["windows"] == n_windows and set(df["split"]) == {"test"}

    for sid, frame in trained.frames.items():
        got = df[df["series_id"] == sid]
        close = frame.set_index("timestamp")["close"]
        known = got["timestamp"].isin(close.index)
        # Actual values are the real closes; steps past the data have none and a later timestamp.
        np.testing.assert_allclose(got.loc[known, "actual"], close[got.loc[known, "timestamp"]].to_numpy())
        assert got.loc[~known, "actual"].isna().all()
        assert (got.loc[~known, "timestamp"] > frame["timestamp"].max()).all() and (~known).sum() == 3
        # Original units: forecasts sit at the series' level (NASDAQ ~7000, SP500 ~2700), not at scaled values.
        assert np.median(np.abs(got["value"] / close[got["origin"]].to_numpy() - 1)) < 0.05
        assert ((got["timestamp"] > got["origin"]) & (got["step"].isin([1, 2]))).all()
    # The noise input makes paths differ; the point forecast is one per window and step.
    spread = df.groupby(["series_id", "origin", "step"])["value"].std()
    assert (spread > 0).all()
    assert (df.groupby(["series_id", "origin", "step"])["point"].nunique() == 1).all()

    # The step-1 point forecast is the checkpoint's generator at zero noise on the test window
    # that the training pipeline's own windowing cuts, inverted by hand: last * exp(y * vol * sd + mu)
    # (vol: the window's volatility scale, data.vol_scaling).
    loaded = load_checkpoint(trained.checkpoint)
    ref = _test_windows_reference(trained, loaded)
    x = np.stack(ref["x"].to_numpy()).astype(np.float32)
    noise = np.zeros((*x.shape[:2], loaded.config["model"]["noise_dim"]), np.float32)
    y = loaded.generator.predict(np.concatenate([x, noise], -1), verbose=0)[:, 0]
    assert ref["vol"].std() > 0  # volatility scaling is on (the default) and varies
    ref["expected"] = ref["last"] * np.exp(y * ref["vol"] * ref["sd"] + ref["mu"])
    ref["timestamp"] = ref["timestamp"].astype("datetime64[us]")
    step1 = df[(df["step"] == 1) & (df["path"] == 0)].merge(ref, on=["series_id", "timestamp"])
    assert len(step1) == n_windows
    np.testing.assert_allclose(step1["point"], step1["expected"], rtol=1e-5)
    np.testing.assert_allclose(step1["actual"],
                               step1["last"] * np.exp(step1["y"] * step1["vol"] * step1["sd"] + step1["mu"]),
                               rtol=1e-6)  # y is float32


def test_bad_input_is_refused_before_any_work(trained, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.parquet").write_text("earlier results")
    with pytest.raises(ConfigError, match="already holds files; pass --overwrite"):
        run_generate(trained.checkpoint, trained.data, str(out), verbose=False)
    assert (out / "keep.parquet").read_text() == "earlier results"

    broken = tmp_path / "ckpt"
    broken.mkdir()
    for name in os.listdir(trained.checkpoint):
        if name != GENERATOR_FILE:
            shutil.copy(os.path.join(trained.checkpoint, name), broken / name)
    with pytest.raises(CheckpointError, match="missing generator.keras"):
        run_generate(str(broken), trained.data, str(tmp_path / "a"), verbose=False)

    no_volume = write_dataset(tmp_path / "novol", [f.drop(columns="volume") for f in trained.frames.values()])
    with pytest.raises((DataError, CheckpointError), match="volume"):
        run_generate(trained.checkpoint, no_volume, str(tmp_path / "b"), verbose=False)
    with pytest.raises(ConfigError, match="--mode 'sample'.*\n.*--paths must be >= 1"):
        run_generate(trained.checkpoint, trained.data, str(tmp_path / "c"), GenerateOptions(paths=0, mode="sample"),
                     verbose=False)
    assert not any((tmp_path / n).exists() for n in "abc")


def test_synthesize_cli_rolls_whole_paths_from_the_first_test_window(trained, tmp_path, capsys):
    """The command line in synthesize mode (in-process on the session's Ray: a subprocess would add a Ray start)."""
    code = generate_main(["--checkpoint", trained.checkpoint, "--data", trained.data, "--out", str(tmp_path / "syn"),
                          "--mode", "synthesize", "--paths", "3", "--seed", "7"])
    stdout = capsys.readouterr().out
    assert code == 0
    summary = last_json(stdout)
    steps = summary["horizon"]
    # By default the paths run from the first test window to the end of the data.
    assert steps == split_sizes(TRAINED_DAYS - 1, (0.7, 0.15, 0.15))[2] - T and summary["windows"] == 2
    assert f"synthesize: wrote {2 * 3 * steps} rows" in stdout
    df = pq.read_table(summary["out"]).to_pandas()
    assert len(df) == summary["rows"] == 2 * 3 * steps
    assert df["point"].isna().all()
    for sid, frame in trained.frames.items():
        got = df[df["series_id"] == sid].sort_values(["path", "step"])
        real = frame.iloc[-steps:]  # the test days after the seed window
        for _, path in got.groupby("path"):
            assert list(path["step"]) == list(range(1, steps + 1))
            np.testing.assert_array_equal(path["timestamp"].to_numpy(), real["timestamp"].to_numpy())
            np.testing.assert_allclose(path["actual"], real["close"])
            assert (path["origin"] == frame["timestamp"].iloc[-steps - 1]).all()
        paths = got.pivot(index="path", columns="step", values="value").to_numpy()
        assert np.isfinite(paths).all() and (paths > 0).all()
        assert not np.allclose(paths[0], paths[1])  # distinct scenarios
        moves = np.abs(np.diff(np.log(paths), axis=1))
        assert moves.max() < 0.5 and moves.mean() > 1e-5  # daily moves: neither level jumps nor a flat line


def test_an_overwrite_that_fails_leaves_the_output_it_would_replace(trained, tmp_path):
    """--overwrite with a checkpoint whose generator passes every file check but cannot be loaded: the
    job fails in its actors, long after it claimed --out, and --out is byte for byte as it was (the
    replacing run is in the documented-Parquet test above)."""
    out = tmp_path / "fc"
    out.mkdir()
    (out / "part-old.parquet").write_bytes(b"earlier results")
    before = tree_digest(out)
    broken = unloadable_copy(trained.checkpoint, tmp_path)
    with pytest.raises(Exception, match=f"{broken}/generator.keras: cannot be loaded"):
        run_generate(broken, trained.data, str(out), GenerateOptions(paths=2, horizon=1, overwrite=True),
                     verbose=False)
    assert tree_digest(out) == before and not leftovers(out)
