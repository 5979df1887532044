"""The files that ship inside the package (``lstmgan_ray/bundled/``): the sample dataset and the
example configs, found through ``importlib.resources`` so that they are there from an installed
wheel as from a checkout, whatever the working directory.

In a checkout, ``data/indices`` and ``configs/{default,sweep,reference}.yaml`` are relative
symbolic links to these files, so the repository's paths keep working without a second copy.
"""

from __future__ import annotations

from importlib.resources import files

BUNDLED = files("lstmgan_ray") / "bundled"


def bundled_path(*parts: str) -> str:
    """The absolute path of a packaged file (the package is installed unzipped, as pip does)."""
    return str(BUNDLED.joinpath(*parts))


BUNDLED_DATA = bundled_path("data", "indices")  # the default data.path
DEFAULT_CONFIG = bundled_path("configs", "default.yaml")  # every key with its default, commented out
SWEEP_FILE = bundled_path("configs", "sweep.yaml")  # lstmgan-tune's default sweep file
REFERENCE_CONFIG = bundled_path("configs", "reference.yaml")  # the original notebook's setup
