"""Files on a local disk or object storage, read and written the same way by every job.

Every results file (metrics, reports, tables, checkpoint JSON) is written through
``write_atomic``: to a temporary name beside the target, then moved over it, so a reader (or
a crash) never meets a half-written file. Checkpoints on object storage are read through
``local_copy``: Keras and NumPy open local files only, so a URI is downloaded once into a
temporary directory.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import pyarrow.fs as pafs

from lstmgan_ray.storage.paths import filesystem_for, is_uri, split_query


def path_type(path: str) -> pafs.FileType:
    """``FileType.File``, ``Directory`` or ``NotFound`` for a local path or URI."""
    fs, inner = filesystem_for(path)
    return fs.get_file_info(inner).type


def list_files(path: str) -> list[str]:
    """Names of the files directly in directory ``path`` (not subdirectories); empty when missing."""
    fs, inner = filesystem_for(path)
    if fs.get_file_info(inner).type != pafs.FileType.Directory:
        return []
    return [i.base_name for i in fs.get_file_info(pafs.FileSelector(inner)) if i.type == pafs.FileType.File]


def read_bytes(path: str) -> bytes:
    """The whole file at a local path or URI (OSError when it cannot be read)."""
    fs, inner = filesystem_for(path)
    with fs.open_input_stream(inner) as fh:
        return fh.read()


def write_atomic(path: str, data: bytes | str) -> str:
    """Write ``data`` to ``path`` (local or URI) whole or not at all; returns ``path``.

    Written to ``.<name>.tmp-<random>`` in the same directory, then moved over the target: a
    rename on a local disk, and on object storage a copy that makes the object appear whole.
    """
    fs, inner = filesystem_for(path)
    folder, name = inner.rsplit("/", 1) if "/" in inner else ("", inner)
    tmp = f"{folder}/.{name}.tmp-{uuid.uuid4().hex[:8]}" if folder else f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    if folder:
        fs.create_dir(folder, recursive=True)
    try:
        with fs.open_output_stream(tmp) as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        fs.move(tmp, inner)
    finally:
        if fs.get_file_info(tmp).type != pafs.FileType.NotFound:
            fs.delete_file(tmp)
    return path


def copy_tree(src: str, dest: str) -> None:
    """Copy directory ``src`` into ``dest`` (created), across filesystems (local <-> object storage)."""
    src_fs, src_path = filesystem_for(src)
    dest_fs, dest_path = filesystem_for(dest)
    dest_fs.create_dir(dest_path, recursive=True)
    pafs.copy_files(src_path, dest_path, source_filesystem=src_fs, destination_filesystem=dest_fs)


def remove_tree(path: str) -> None:
    """Delete directory ``path`` and everything in it, if it is there."""
    fs, inner = filesystem_for(path)
    if fs.get_file_info(inner).type == pafs.FileType.Directory:
        fs.delete_dir(inner)


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
    """A local directory holding what directory ``path`` holds: ``path`` itself when local, else a
    temporary download, deleted on exit. Loaders that need local files (Keras, NumPy) read it."""
    if not is_uri(path):
        yield path
        return
    tmp = tempfile.mkdtemp(prefix="lstmgan-download-")
    try:
        copy_tree(path, tmp)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sibling(path: str, suffix: str) -> str:
    """``<path><suffix>`` beside ``path`` (a URI's options kept last): staging and set-aside names."""
    root, query = split_query(path)
    return root.rstrip("/") + suffix + query

