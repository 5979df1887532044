"""Local paths and URIs, resolved the same way by every job."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.fs as pafs

from lstmgan_ray.errors import DataError


def is_uri(path: str) -> bool:
    """``s3://…``, ``gs://…``, ``file://…``: anything pyarrow opens by scheme."""
    return "://" in path


def resolve_path(path: str) -> str:
    """A URI as given; a local path made absolute (Ray and worker processes run elsewhere)."""
    return path if is_uri(path) else os.path.abspath(os.path.expanduser(path))


def filesystem_for(path: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a local path or a URI pyarrow can open."""
    if not is_uri(path):
        return pafs.LocalFileSystem(), resolve_path(path)
    scheme = path.split("://", 1)[0]
    try:
        return pafs.FileSystem.from_uri(path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ImportError) as err:
        raise DataError(f"{path}: no filesystem for {scheme}:// is available here "
                        f"({str(err).splitlines()[0]})") from None
