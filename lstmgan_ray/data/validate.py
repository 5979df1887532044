"""Driver-side checks of a Parquet dataset, from footers, before any worker starts.

Reads each file's schema and row-group statistics (not the data: only columns whose
statistics match another's are read, to find exact duplicates, ``data.duplicates``),
reports every problem at once naming the file and column, and returns what the pipeline
needs: the resolved features, transforms and columns to read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pyarrow.types as pat

from lstmgan_ray.data.contract import listed_features, resolve_features, resolve_transforms
from lstmgan_ray.data.duplicates import drop_duplicates, find_duplicates, row_group_statistics
from lstmgan_ray.errors import DataError
from lstmgan_ray.storage import filesystem_for


@dataclass
class DatasetInfo:
    """What validation learned: files, unified schema, features and their transforms."""

    files: list[str]
    schema: pa.Schema
    features: list[str]
    transforms: dict[str, str]
    read_columns: list[str]
    num_rows: int
    duplicates: dict[str, str] = field(default_factory=dict)  # column -> the column it equals in every row


def list_parquet_files(path: str) -> tuple[object, list[str]]:
    """The Parquet files at ``path`` (a file or a directory, local or URI), sorted."""
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


@dataclass
class Footers:
    """What the files' footers say: each file's schema, the rows, per-column minimums, and each
    column's statistics per row group (files in order), which only equal columns share."""

    schemas: dict[str, pa.Schema] = field(default_factory=dict)
    minimums: dict[str, float] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)  # columns some row group has no min statistic for
    statistics: dict[str, list] = field(default_factory=dict)
    num_rows: int = 0

    def add_statistics(self, meta: pq.FileMetaData) -> None:
        for name, groups in row_group_statistics(meta).items():
            self.statistics.setdefault(name, []).append((len(self.schemas), groups))
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            for c in range(group.num_columns):
                col = group.column(c)
                st, name = col.statistics, col.path_in_schema
                if st is None or not st.has_min_max or not isinstance(st.min, (int, float)):
                    self.unknown.add(name)
                    continue
                prev = self.minimums.get(name)
                self.minimums[name] = st.min if prev is None else min(prev, st.min)


def read_footers(fs, files: list[str], problems: list[str]) -> Footers:
    """Every file's schema and statistics (no data is read); unreadable files go to ``problems``."""
    footers = Footers()
    for f in files:
        try:
            with fs.open_input_file(f) as handle:
                meta = pq.ParquetFile(handle).metadata
        except (pa.ArrowInvalid, OSError) as err:
            problems.append(f"{f}: not a readable Parquet file ({err})")
            continue
        footers.add_statistics(meta)
        footers.schemas[f] = meta.schema.to_arrow_schema()
        footers.num_rows += meta.num_rows
    return footers


def schema_problems(schemas: dict[str, pa.Schema], data_cfg: dict) -> list[str]:
    """Columns whose type differs between files, required columns missing from a file, and a
    timestamp column that is no timestamp; each naming the file."""
    (first_file, schema), problems = next(iter(schemas.items())), []
    for f, s in schemas.items():
        for fld in s:
            other = schema.field(fld.name) if fld.name in schema.names else None
            if other is not None and other.type != fld.type and not (
                    _is_numeric(other.type) and _is_numeric(fld.type)):
                problems.append(f"{f}: column {fld.name!r} is {fld.type}, but {other.type} in {first_file}")
    ts, target = data_cfg["timestamp_column"], data_cfg["target"]
    for f, s in schemas.items():
        missing = [c for c in (ts, target, *listed_features(data_cfg)) if c not in s.names]
        if missing:
            problems.append(f"{f}: missing column(s) {', '.join(map(repr, missing))} "
                            f"(has: {', '.join(s.names)})")
    if ts in schema.names and not (pat.is_timestamp(schema.field(ts).type) or pat.is_date(schema.field(ts).type)):
        problems.append(f"{first_file}: column {ts!r} must be a timestamp or date, got {schema.field(ts).type}")
    return problems


def feature_problems(first_file: str, schema: pa.Schema, features: list[str], target: str) -> list[str]:
    """Feature (or target) columns that are not numeric."""
    return [f"{first_file}: {'target' if col == target else 'feature'} column {col!r} is "
            f"{schema.field(col).type}, not numeric"
            for col in features if col in schema.names and not _is_numeric(schema.field(col).type)]


def transform_problems(transforms: dict[str, str], minimums: dict[str, float], target: str) -> list[str]:
    """Columns whose transform their values cannot take (log returns of a zero or a negative)."""
    problems = []
    for col, tr in transforms.items():
        lo = minimums.get(col)
        if tr == "log_return" and lo is not None and lo <= 0:
            problems.append(f"column {col!r}: transform log_return needs positive values, minimum is {lo} "
                            f"(set data.{'target' if col == target else 'feature'}_transform to 'diff')")
    return problems


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise DataError("dataset problems:\n  " + "\n  ".join(problems))


def inspect_dataset(data_cfg: dict, keep: tuple[str, ...] | list[str] = ()) -> DatasetInfo:
    """Validate the dataset's files and schema against the data config; raise DataError listing all problems.

    Found features that repeat the target or an earlier feature in every row are dropped
    (``data.duplicates``), but for those in ``keep``: the features of a checkpoint being
    resumed, whose networks take them.
    """
    fs, files = list_parquet_files(data_cfg["path"])
    problems: list[str] = []
    footers = read_footers(fs, files, problems)
    if not footers.schemas:
        _raise_if(problems)
    first_file, schema = next(iter(footers.schemas.items()))
    problems += schema_problems(footers.schemas, data_cfg)
    features = resolve_features(data_cfg, schema)
    problems += feature_problems(first_file, schema, features, data_cfg["target"])
    _raise_if(problems)
    duplicates = find_duplicates(fs, files, footers.statistics, features, data_cfg["target"])
    features = drop_duplicates(features, duplicates, named=bool(listed_features(data_cfg)), keep=tuple(keep))
    known = {c: None if c in footers.unknown else footers.minimums.get(c) for c in features}
    transforms = resolve_transforms(data_cfg, features, known)
    _raise_if(transform_problems(transforms, footers.minimums, data_cfg["target"]))
    ts, sc = data_cfg["timestamp_column"], data_cfg["series_column"]
    read_columns = [ts] + ([sc] if sc in schema.names else []) + features
    return DatasetInfo(files, schema, features, transforms, read_columns, footers.num_rows, duplicates)
