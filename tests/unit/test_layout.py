"""The package's shape holds: imports point one way, functions and modules stay short enough to read."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = Path(ROOT) / "lstmgan_ray"
# Lower layers never import higher ones, nor their neighbours on the same layer.
LAYERS = {"errors": 0, "_lazy": 0, "console": 0, "config": 1, "storage": 1, "data": 2, "model": 2, "train": 3,
          "evaluate": 4, "tune": 4, "cli": 5}
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 350


def unit_of(module: str) -> str:
    """``lstmgan_ray.train.loop`` -> ``train``; ``lstmgan_ray.errors`` -> ``errors``."""
    return module.split(".")[1]


def imports(path: Path, module: str) -> set[str]:
    """Every lstmgan_ray module ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lstmgan_ray.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lstmgan_ray."):
            found.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.add(".".join(module.split(".")[: -node.level] + ([node.module] if node.module else [])))
    return found


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def test_every_subpackage_has_a_layer_and_imports_point_down():
    upward = []
    for module, path in modules().items():
        if module == "lstmgan_ray":
            continue
        here = unit_of(module)
        assert here in LAYERS, f"{module}: subpackage {here!r} has no layer in this test"
        for target in imports(path, module):
            there = unit_of(target)
            if there != here and LAYERS[there] >= LAYERS[here]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that do not point down:\n  " + "\n  ".join(sorted(upward))


def test_the_layer_test_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from lstmgan_ray.cli.train import train_main\n")
    assert imports(bad, "lstmgan_ray.data.m") == {"lstmgan_ray.cli.train"}


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [f"{path.relative_to(ROOT)}:{n.name} {n.end_lineno - n.lineno + 1} lines"
            for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]


def test_functions_and_modules_are_short_outside_tests():
    files = [p for d in ("lstmgan_ray", "benchmarks", "jobs") for p in (Path(ROOT) / d).rglob("*.py")]
    too_long = [f"{p.relative_to(ROOT)} {n} lines" for p in files
                if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    too_long += [f for p in files for f in long_functions(p)]
    assert not too_long, "\n".join(too_long)


def test_command_lines_import_neither_tensorflow_nor_ray():
    code = ("import sys, lstmgan_ray.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'ray', 'mlflow'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_lint_is_clean():
    """``make lint``: the ruff configuration in pyproject.toml, over the whole repository."""
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "."], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
