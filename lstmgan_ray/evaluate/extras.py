"""The evaluation's own packages, installed by the ``eval`` extra (``pip install "lstmgan-ray[eval]"``)
and not by the package itself, so that training nodes go without them.

``lstmgan-evaluate`` calls ``check_eval_packages`` before it reads anything; the evaluation's
modules turn a failed import of one of them into ``missing_package``'s message, so every import
path names the package and the command that installs it.
"""

from __future__ import annotations

import importlib

from lstmgan_ray.errors import DependencyError

INSTALL_EVAL = 'pip install "lstmgan-ray[eval]"'
# import name -> the distribution pip installs; arch is optional (its baseline is skipped without it).
EVAL_PACKAGES = {"scipy": "scipy", "sklearn": "scikit-learn", "matplotlib": "matplotlib"}
PROBED = {"scipy": "scipy.stats", "sklearn": "sklearn.manifold", "matplotlib": "matplotlib"}


def missing_package(module: str, err: ImportError) -> DependencyError:
    """The error for an evaluation package that failed to import (raise it ``from err``)."""
    top = module.split(".")[0]
    name = EVAL_PACKAGES.get(top, top)
    return DependencyError(f"lstmgan-evaluate needs {name}, which cannot be imported ({err}); "
                           f"install the evaluation's packages with: {INSTALL_EVAL}")


def check_eval_packages() -> None:
    """Import each evaluation package (a real import: a broken install fails here too) and name
    every one that fails, before the job reads a file or starts Ray."""
    failed = []
    for module, probe in PROBED.items():
        try:
            importlib.import_module(probe)
        except ImportError as err:
            failed.append(f"{EVAL_PACKAGES[module]} ({err})")
    if failed:
        raise DependencyError(f"lstmgan-evaluate needs {', '.join(failed)}; install the evaluation's "
                              f"packages with: {INSTALL_EVAL}")
