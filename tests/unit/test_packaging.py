"""What `ray job submit --working-dir .` uploads: data, runs, venvs, caches and secrets stay behind.
"""

import os
import shutil
import zipfile
from pathlib import Path

from tests.helpers import ROOT


def test_working_dir_upload_leaves_out_data_runs_venvs_and_secrets(tmp_path):
    """The package `ray job submit --working-dir .` uploads, built by Ray's own packaging code
    with the same ignore files and default excludes: what a job needs, nothing more."""
    from ray._private import ray_constants
    from ray._private.runtime_env.packaging import create_package

    def package(root: Path) -> tuple[set[str], int]:
        out = tmp_path / f"{root.name}.zip"
        create_package(str(root), out, include_gitignore=True,
                       excludes=ray_constants.get_runtime_env_default_excludes())
        with zipfile.ZipFile(out) as zf:
            return set(zf.namelist()), out.stat().st_size

    # A checkout with the clutter a user's has: a venv, runs, their own data, caches.
    tree = tmp_path / "checkout"
    for name in (".gitignore", ".rayignore", "pyproject.toml", "jobs/train.py", "configs/runtime_env.yaml",
                 "lstmgan_ray/train/driver.py", "lstmgan_ray/bundled/data/indices/sp500-0.parquet"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(ROOT, name), tree / name)
    (tree / "data").mkdir()
    (tree / "data" / "indices").symlink_to("../lstmgan_ray/bundled/data/indices")  # as in the repository
    for name in (".venv/lib/python3.11/site-packages/big.so", "venv/bin/python",
                 "runs/r/checkpoint_epoch_0001/generator.keras",
                 "data/mine/bars.parquet", "lstmgan_ray/__pycache__/train.cpython-311.pyc", ".git/objects/ab",
                 "docs/figures/f.png", "lstmgan_ray.egg-info/PKG-INFO",
                 # secrets a user's checkout may hold: none of them may be uploaded
                 ".env", ".env.local", "deploy/key.pem", "certs/tls.key", ".aws/credentials", ".ssh/id_ed25519",
                 "credentials.json", "gcp/service-account-prod.json", "configs/my-credentials.json", ".netrc",
                 ".ray/auth_token"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(b"x" * 1000)
    names, _ = package(tree)
    # The sample data travels once, inside the package; data/indices only links to it.
    assert names == {".gitignore", ".rayignore", "pyproject.toml", "jobs/train.py", "configs/runtime_env.yaml",
                     "lstmgan_ray/train/driver.py", "lstmgan_ray/bundled/data/indices/sp500-0.parquet"}

    # This repository as it is (with whatever .venv and runs it holds): under 2 MB.
    names, size = package(Path(ROOT))
    assert size < 2_000_000, size
    assert "jobs/train.py" in names and "lstmgan_ray/train/resources.py" in names
    assert "lstmgan_ray/bundled/data/indices/sp500-0.parquet" in names and "configs/sweep.yaml" in names
    assert not [n for n in names if n.split("/")[0] in (".venv", "venv", "runs", ".git", "docs", "tests", "data")]
