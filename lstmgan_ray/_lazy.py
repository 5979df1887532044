"""Exports loaded on first use, for subpackages whose modules import TensorFlow or Ray.

A command line imports ``lstmgan_ray.train.preflight`` or ``lstmgan_ray.data.validate`` to check
its input in a second; if each package's ``__init__`` imported all its modules, that would load
TensorFlow first. ``lazy_exports`` gives a package a module ``__getattr__`` (PEP 562) instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, list[str]]) -> tuple[Callable[[str], Any], list[str]]:
    """(``__getattr__``, ``__all__``) for ``package``, whose ``exports`` map module -> names."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    return __getattr__, sorted(where)
