"""Driver-side checks of a Parquet dataset, from footers only, before any worker starts.

Reads each file's schema and row-group statistics (not the data), reports every
problem at once naming the file and column, and returns what the pipeline needs:
the resolved features, transforms and columns to read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.types as pat

from lstmgan_ray.data import DataError, resolve_features, resolve_transforms


@dataclass
class DatasetInfo:
    """What validation learned: files, unified schema, features and their transforms."""

    files: list[str]
    schema: pa.Schema
    features: list[str]
    transforms: dict[str, str]
    read_columns: list[str]
    num_rows: int


def filesystem_for(path: str):
    """(filesystem, path inside it) for a local path or a URI pyarrow can open."""
    import pyarrow.fs as pafs

    if "://" not in path:
        return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(path))
    scheme = path.split("://", 1)[0]
    try:
        return pafs.FileSystem.from_uri(path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ImportError) as err:
        raise DataError(f"{path}: no filesystem for {scheme}:// is available here "
                        f"({str(err).splitlines()[0]})") from None


def list_parquet_files(path: str) -> tuple[object, list[str]]:
    """The Parquet files at ``path`` (a file or a directory, local or URI), sorted."""
    import pyarrow.fs as pafs

    fs, root = filesystem_for(path)
    try:
        info = fs.get_file_info(root)
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err})") from None
    if info.type == pafs.FileType.NotFound:
        raise DataError(f"{path}: no such file or directory")
    if info.type == pafs.FileType.File:
        return fs, [root]
    if isinstance(fs, pafs.LocalFileSystem):
        # os.walk, not a FileSelector: pyarrow silently skips broken links, and a dataset
        # silently missing a shard is worse than an error naming it.
        files = sorted(os.path.join(d, n) for d, _, names in os.walk(root) for n in names
                       if not n.startswith((".", "_")))
    else:
        try:
            entries = fs.get_file_info(pafs.FileSelector(root, recursive=True))
        except OSError as err:
            raise DataError(f"{path}: cannot be listed ({err})") from None
        files = sorted(e.path for e in entries if e.type == pafs.FileType.File
                       and not e.base_name.startswith((".", "_")))
    if not files:
        raise DataError(f"{path}: the directory holds no Parquet files")
    return fs, files


def _is_numeric(t: pa.DataType) -> bool:
    return pat.is_integer(t) or pat.is_floating(t) or pat.is_decimal(t)


def inspect_dataset(data_cfg: dict) -> DatasetInfo:
    """Validate the dataset's files and schema against the data config; raise DataError listing all problems."""
    import pyarrow.parquet as pq

    fs, files = list_parquet_files(data_cfg["path"])
    problems: list[str] = []
    schemas: dict[str, pa.Schema] = {}
    minimums: dict[str, float] = {}
    unknown: set[str] = set()  # columns some row group has no min statistic for
    num_rows = 0
    for f in files:
        try:
            with fs.open_input_file(f) as handle:
                meta = pq.ParquetFile(handle).metadata
        except (pa.ArrowInvalid, OSError) as err:
            problems.append(f"{f}: not a readable Parquet file ({err})")
            continue
        schemas[f] = meta.schema.to_arrow_schema()
        num_rows += meta.num_rows
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            for c in range(group.num_columns):
                col = group.column(c)
                st = col.statistics
                name = col.path_in_schema
                if st is None or not st.has_min_max or not isinstance(st.min, (int, float)):
                    unknown.add(name)
                    continue
                prev = minimums.get(name)
                minimums[name] = st.min if prev is None else min(prev, st.min)
    if problems and not schemas:
        raise DataError("dataset problems:\n  " + "\n  ".join(problems))

    first_file, schema = next(iter(schemas.items()))
    for f, s in schemas.items():
        for fld in s:
            other = schema.field(fld.name) if fld.name in schema.names else None
            if other is not None and other.type != fld.type and not (
                    _is_numeric(other.type) and _is_numeric(fld.type)):
                problems.append(f"{f}: column {fld.name!r} is {fld.type}, but {other.type} in {first_file}")
    ts, sc, target = data_cfg["timestamp_column"], data_cfg["series_column"], data_cfg["target"]
    names = set(schema.names)
    for f, s in schemas.items():
        missing = [c for c in (ts, target, *(data_cfg.get("features") or [])) if c not in s.names]
        if missing:
            problems.append(f"{f}: missing column(s) {', '.join(map(repr, missing))} "
                            f"(has: {', '.join(s.names)})")
        names &= set(s.names)
    if ts in schema.names and not (pat.is_timestamp(schema.field(ts).type) or pat.is_date(schema.field(ts).type)):
        problems.append(f"{first_file}: column {ts!r} must be a timestamp or date, got {schema.field(ts).type}")
    features = resolve_features(data_cfg, schema)
    for col in features:
        if col in schema.names and not _is_numeric(schema.field(col).type):
            role = "target" if col == target else "feature"
            problems.append(f"{first_file}: {role} column {col!r} is {schema.field(col).type}, not numeric")
    if not problems:
        transforms = resolve_transforms(data_cfg, features, {c: None if c in unknown else minimums.get(c) for c in features})
        for col, tr in transforms.items():
            lo = minimums.get(col)
            if tr == "log_return" and lo is not None and lo <= 0:
                problems.append(f"column {col!r}: transform log_return needs positive values, minimum is {lo} "
                                f"(set data.{'target' if col == target else 'feature'}_transform to 'diff')")
    if problems:
        raise DataError("dataset problems:\n  " + "\n  ".join(problems))
    read_columns = [ts] + ([sc] if sc in schema.names else []) + features
    return DatasetInfo(files, schema, features, transforms, read_columns, num_rows)
