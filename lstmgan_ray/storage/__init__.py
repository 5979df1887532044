"""Where jobs read and write: local paths and URIs through one pyarrow filesystem lookup, and the
one rule every job follows before writing into a directory that already holds something.

Owns path resolution (``resolve_path``), the filesystem for a path or URI (``filesystem_for``)
and output claiming (``claim_output``); it knows nothing about runs, sweeps or models.
"""

from lstmgan_ray.storage.claim import Claim, claim_output, holds_entries
from lstmgan_ray.storage.paths import filesystem_for, is_uri, resolve_path

__all__ = ["Claim", "claim_output", "filesystem_for", "holds_entries", "is_uri", "resolve_path"]
