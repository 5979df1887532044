"""Where jobs read and write: local paths and URIs through one pyarrow filesystem lookup, and the
one rule every job follows before writing into a directory that already holds something.

Owns path resolution (``resolve_path``, ``join``, ``as_uri``), the filesystem for a path or URI
(``filesystem_for``), whole-or-nothing file writes (``write_atomic``), local copies of remote
directories (``local_copy``), output claiming (``claim_output``), replacing results only once
their replacement is safe (``staged_output``, ``replacing``) and the lease that lets one job at a
time write a directory (``held_lease``); it knows nothing about runs, sweeps or models.
"""

from lstmgan_ray.storage.claim import Claim, claim_output, holds_entries
from lstmgan_ray.storage.files import (
    copy_tree,
    list_files,
    local_copy,
    path_type,
    read_bytes,
    write_atomic,
)
from lstmgan_ray.storage.lock import LEASE_FILE, Lease, acquire_lease, held_lease
from lstmgan_ray.storage.paths import as_uri, base_name, filesystem_for, is_inside, is_uri, join, parent, resolve_path
from lstmgan_ray.storage.replace import COMPLETE_MARKER, Replacement, replacing, staged_output

# What the jobs use; the modules' helpers (remove_tree, sibling, swap_in, Owner, ...) stay in them.
__all__ = ["COMPLETE_MARKER", "LEASE_FILE", "Claim", "Lease", "Replacement", "acquire_lease", "as_uri",
           "base_name", "claim_output", "copy_tree", "filesystem_for", "held_lease", "holds_entries", "is_inside",
           "is_uri", "join", "list_files", "local_copy", "parent", "path_type", "read_bytes", "replacing",
           "resolve_path", "staged_output", "write_atomic"]
