"""What ``run.tracking`` needs before anything starts: MLflow installed (looked up, not imported,
so a command line stays fast and fails in about a second when it is missing)."""

from __future__ import annotations

import importlib.util

from lstmgan_ray.config.schema import RunSection
from lstmgan_ray.errors import DependencyError

INSTALL_HINT = 'pip install "lstmgan-ray[mlflow]"'


def mlflow_installed() -> bool:
    """Whether ``import mlflow`` would find a package (without importing it)."""
    try:
        return importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):  # a parent package missing, or mlflow marked unimportable
        return False


def check_tracking(run: RunSection) -> None:
    """Refuse ``run.tracking: mlflow`` without MLflow, naming the extra that installs it."""
    if run.tracking == "mlflow" and not mlflow_installed():
        raise DependencyError(f"run.tracking=mlflow needs MLflow, which is not installed: {INSTALL_HINT}")
