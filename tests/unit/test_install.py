"""The package installed, not only checked out: the sample data and example configs ship inside the
wheel, defaults resolve from any working directory, and the command lines follow the usual
conventions (--version, --print-config, closed choices, the eval extra named when missing)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from lstmgan_ray.config import BUNDLED_DATA, DEFAULT_CONFIG, REFERENCE_CONFIG, SWEEP_FILE, Config, load_config
from lstmgan_ray.tune.sweep_file import load_sweep
from tests.helpers import ROOT

PACKAGED = ["lstmgan_ray/bundled/configs/default.yaml", "lstmgan_ray/bundled/configs/sweep.yaml",
            "lstmgan_ray/bundled/configs/reference.yaml", "lstmgan_ray/config/profiles/cpu.yaml",
            *(f"lstmgan_ray/bundled/data/indices/{n}-{i}.parquet" for n in ("sp500", "nasdaq") for i in (0, 1))]


def run(args: list[str], cwd, pythonpath: str = ROOT, **kwargs) -> subprocess.CompletedProcess:
    """A Python subprocess in ``cwd`` that sees the package only through ``pythonpath``."""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel`` of a copy of the project (so the build leaves nothing in the checkout); without
    build isolation where setuptools is at hand, which takes seconds instead of half a minute."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(Path(ROOT) / name, src / name)
    shutil.copytree(Path(ROOT) / "lstmgan_ray", src / "lstmgan_ray", ignore=shutil.ignore_patterns("__pycache__"))
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *isolation, "-w", str(tmp / "dist"),
                          str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    (found,) = (tmp / "dist").glob("lstmgan_ray-*.whl")
    return found


def test_the_wheel_carries_the_sample_data_the_configs_and_the_profiles(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [n for n in PACKAGED if n not in names]
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Requires-Python: <3.14,>=3.11" in metadata or "Requires-Python: >=3.11,<3.14" in metadata
    core = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert any("keras" in line and ">=3.14" in line for line in core)
    assert not [line for line in core if any(p in line for p in ("scipy", "scikit-learn", "matplotlib"))]


def test_installed_defaults_resolve_to_the_packaged_files_from_anywhere(wheel, tmp_path):
    """``pip install`` of the wheel (into a directory of its own), run from an unrelated directory:
    the default data path and sweep file are the installed package's, and they load."""
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                          str(wheel)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    code = ("import json, lstmgan_ray; from lstmgan_ray.config import Config; "
            "from lstmgan_ray.tune.sweep_file import default_sweep_file, load_sweep; "
            "from lstmgan_ray.data.validate import list_parquet_files; "
            "path = Config().data.path; spec = load_sweep(default_sweep_file()); "
            "print(json.dumps([lstmgan_ray.__file__, path, len(list_parquet_files(path)[1]), "
            "spec.base_config().data.path]))")
    done = run(["-c", code], cwd=elsewhere, pythonpath=str(target))
    assert done.returncode == 0, done.stderr[-3000:]
    package, path, files, sweep_path = yaml.safe_load(done.stdout.splitlines()[-1])
    assert package.startswith(str(target)) and path.startswith(str(target)) and files == 4
    assert sweep_path == path


def test_print_config_from_another_directory_shows_the_data_that_exists(tmp_path):
    out = run([os.path.join(ROOT, "jobs", "train.py"), "--print-config", "--set", "train.epochs=3",
               "--max-failures", "0"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("# lstmgan-train, profile cpu\n")
    printed = yaml.safe_load(out.stdout)
    assert os.path.isdir(printed["data"]["path"]) and printed["data"]["path"] == BUNDLED_DATA
    assert printed["train"]["epochs"] == 3 and printed["run"]["max_failures"] == 0
    assert printed["run"]["storage_path"] == str(tmp_path / "runs")  # as the job resolves it
    assert not (tmp_path / "runs").exists()  # nothing started


def test_printed_configs_load_again_as_they_were(tmp_path):
    for job in ("train", "tune"):
        first = run([os.path.join(ROOT, "jobs", f"{job}.py"), "--print-config", "--profile", "fast"], cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        (tmp_path / f"{job}.yaml").write_text(first.stdout)
        again = run([os.path.join(ROOT, "jobs", f"{job}.py"), "--print-config", "--profile", "fast",
                     "--config", str(tmp_path / f"{job}.yaml")], cwd="/")
        assert again.returncode == 0, again.stderr
        assert again.stdout == first.stdout
    assert "n_critic: null" in (tmp_path / "tune.yaml").read_text()  # follows each trial's sampled loss


def test_relative_paths_in_a_config_file_are_relative_to_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "configs"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text("data:\n  path: ../bars\nrun:\n  storage_path: runs\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("project/configs/mine.yaml")
    assert cfg.data.path == str(tmp_path / "project" / "bars")
    assert cfg.run.storage_path == str(folder / "runs")
    # The command line's paths stay relative to the working directory; URIs and absolute paths stay.
    cfg = load_config("project/configs/mine.yaml", ["data.path=here"], **{"run.storage_path": "out"})
    assert (cfg.data.path, cfg.run.storage_path) == ("here", "out")
    (folder / "remote.yaml").write_text("data:\n  path: s3://bucket/bars\nrun:\n  storage_path: /abs/runs\n")
    cfg = load_config(folder / "remote.yaml")
    assert (cfg.data.path, cfg.run.storage_path) == ("s3://bucket/bars", "/abs/runs")


def test_a_sweep_files_own_sections_and_base_file_resolve_against_their_files(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "train.yaml").write_text("data:\n  path: bars\n")
    (tmp_path / "sweep.yaml").write_text("base: base/train.yaml\nrun:\n  storage_path: sweeps\n"
                                         "search_space:\n  train.supervised_weight: {uniform: [0.5, 1.0]}\n")
    base = load_sweep(tmp_path / "sweep.yaml").base_config()
    assert base.data.path == str(tmp_path / "base" / "bars")
    assert base.run.storage_path == str(tmp_path / "sweeps")


def test_the_checkout_paths_lead_to_the_bundled_files():
    for link, bundled in (("data/indices", BUNDLED_DATA), ("configs/default.yaml", DEFAULT_CONFIG),
                          ("configs/sweep.yaml", SWEEP_FILE), ("configs/reference.yaml", REFERENCE_CONFIG)):
        path = Path(ROOT) / link
        assert path.is_symlink() and not os.path.isabs(os.readlink(path)), link  # one copy in git
        assert path.resolve() == Path(bundled).resolve(), link
    assert load_config(DEFAULT_CONFIG) == Config()


@pytest.mark.parametrize("job", ["train", "tune", "generate", "evaluate"])
def test_every_job_prints_its_version(job):
    from lstmgan_ray.cli.common import package_version

    out = run([os.path.join(ROOT, "jobs", f"{job}.py"), "--version"], cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == f"lstmgan-{job} {package_version()}"
    assert package_version()[0].isdigit()


@pytest.mark.parametrize("job, args", [
    ("generate", ["--checkpoint", "c", "--out", "o", "--mode", "forecst"]),
    ("generate", ["--checkpoint", "c", "--out", "o", "--split", "validation"]),
    ("train", ["--profile", "fats"]),
    ("tune", ["--search-alg", "tpe"]),
    ("train", ["--max-failures", "two"]),
])
def test_closed_choices_are_refused_by_the_parser(job, args, tmp_path):
    out = run([os.path.join(ROOT, "jobs", f"{job}.py"), *args], cwd=tmp_path)
    assert out.returncode == 2 and "invalid" in out.stderr and args[-1] in out.stderr


BLOCK_SKLEARN = """
import importlib.abc, sys
class Missing(importlib.abc.MetaPathFinder):  # as if scikit-learn were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "sklearn":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
"""


def test_evaluate_names_a_missing_eval_package_before_it_starts(tmp_path):
    code = BLOCK_SKLEARN + ("from lstmgan_ray.cli import evaluate_main; "
                            "sys.exit(evaluate_main(['--checkpoint', 'nowhere', '--out', 'out']))")
    out = run(["-c", code], cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "scikit-learn" in out.stderr and 'pip install "lstmgan-ray[eval]"' in out.stderr
    assert "nowhere" not in out.stderr and not (tmp_path / "out").exists()  # nothing read, nothing written


def test_the_evaluation_modules_name_the_extra_on_any_import_path(tmp_path):
    code = BLOCK_SKLEARN + "import lstmgan_ray.evaluate.figures"
    out = run(["-c", code], cwd=tmp_path)
    assert out.returncode == 1 and "DependencyError" in out.stderr and "lstmgan-ray[eval]" in out.stderr


def test_training_imports_none_of_the_evaluation_packages(tmp_path):
    """Training nodes install no [eval]: the data pipeline and the loop must not need it."""
    code = ("import sys; sys.modules.update(scipy=None, sklearn=None, matplotlib=None); "
            "import lstmgan_ray.data.windows, lstmgan_ray.data.pipeline, lstmgan_ray.train.preflight; print('ok')")
    out = run(["-c", code], cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
