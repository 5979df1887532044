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


def split_query(path: str) -> tuple[str, str]:
    """``("s3://b/x", "?endpoint_override=…")`` for a URI with options, ``(path, "")`` otherwise: the
    options (an S3-compatible endpoint, a region) belong at the end of every path derived from it."""
    if not is_uri(path) or "?" not in path:
        return path, ""
    base, query = path.split("?", 1)
    return base, "?" + query


def join(base: str, *names: str) -> str:
    """``base/name/...`` for a local path or a URI, keeping a URI's options last, so a path the jobs
    derive (a run under a storage path, a checkpoint under a run) opens the same filesystem."""
    root, query = split_query(base)
    parts = [root.rstrip("/")] + [n.strip("/") for n in names if n]
    return "/".join(parts) + query


def parent(path: str) -> str:
    """The directory holding ``path`` (a local path or a URI, options kept)."""
    root, query = split_query(path)
    head = root.rstrip("/").rsplit("/", 1)[0]
    return head + query


def base_name(path: str) -> str:
    """The last component of a local path or URI (``checkpoint_epoch_0003``)."""
    return split_query(path)[0].rstrip("/").rsplit("/", 1)[-1]


def as_uri(fs_path: str, like: str) -> str:
    """The path users can pass on for ``fs_path``, a path inside the filesystem of ``like``.

    Ray reports paths inside a filesystem with the scheme stripped (``bkt/runs/a``); on object
    storage the next command would read that as a local path. ``like`` (the storage path the job
    was given) supplies the scheme and options back; a local ``like`` leaves ``fs_path`` as it is.
    """
    if not is_uri(like) or is_uri(fs_path):
        return fs_path
    scheme = like.split("://", 1)[0]
    return f"{scheme}://{fs_path}{split_query(like)[1]}"


def is_inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies under directory ``folder`` (both local or both URIs; options ignored)."""
    return split_query(path)[0].startswith(split_query(folder)[0].rstrip("/") + "/")
