"""Feature columns that repeat another column in every row, found before any worker starts.

A column equal to the target (the bundled bars' ``adj_close`` is ``close`` again) tells the
model nothing the target does not, and in a multi-step rollout it is held still while the
target moves, so the two inputs disagree at every step. Such a column is dropped from
automatically found features, with one warning; a column the user (or a checkpoint) lists
by name is kept, with the same warning.

Comparing values means reading columns, so the footers' statistics go first: only columns
whose min, max and null count agree in every row group of every file can be equal (two
columns without statistics agree too), and only those are read, one row group at a time,
until a difference shows. On the bundled data that is ``close`` and ``adj_close``: a few
milliseconds.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

log = logging.getLogger(__name__)


def row_group_statistics(meta: pq.FileMetaData) -> dict[str, list[tuple]]:
    """Per column, (min, max, null count) of each row group (None where the footer has none)."""
    out: dict[str, list[tuple]] = {}
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for c in range(group.num_columns):
            col = group.column(c)
            st = col.statistics
            entry = (None, None, None) if st is None else (
                st.min if st.has_min_max else None, st.max if st.has_min_max else None,
                st.null_count if st.has_null_count else None)
            out.setdefault(col.path_in_schema, []).append(entry)
    return out


def same_values(a: pa.ChunkedArray, b: pa.ChunkedArray) -> bool:
    """Whether two columns hold the same numbers row by row (nulls and NaNs in the same rows)."""
    if len(a) != len(b) or a.null_count != b.null_count:
        return False
    if a.null_count and not pc.all(pc.equal(pc.is_null(a), pc.is_null(b))).as_py():
        return False
    x, y = a.drop_null().to_numpy(), b.drop_null().to_numpy()
    both_float = x.dtype.kind == "f" and y.dtype.kind == "f"
    return bool(np.array_equal(x, y, equal_nan=both_float))


def candidate_pairs(order: list[str], statistics: dict[str, list]) -> list[tuple[str, str]]:
    """(later, earlier) column pairs of ``order`` whose footer statistics agree everywhere."""
    return [(later, earlier) for i, later in enumerate(order) for earlier in order[:i]
            if later in statistics and statistics[later] == statistics.get(earlier)]


def equal_pairs(fs, files: list[str], pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ``pairs`` whose columns are equal in every row of every file, reading only their columns."""
    alive = list(pairs)
    for f in files:
        with fs.open_input_file(f) as handle:
            parquet = pq.ParquetFile(handle)
            for rg in range(parquet.metadata.num_row_groups):
                if not alive:
                    return alive
                columns = sorted({c for pair in alive for c in pair})
                table = parquet.read_row_group(rg, columns=columns)
                alive = [(a, b) for a, b in alive if same_values(table.column(a), table.column(b))]
    return alive


def find_duplicates(fs, files: list[str], statistics: dict[str, list], features: list[str],
                    target: str) -> dict[str, str]:
    """``{column: the column it repeats}`` among ``features``: the target first, then in order.

    Each column is matched to the first earlier column it equals, so a run of equal
    columns all point at the target, or at the first of them.
    """
    order = [target] + [c for c in features if c != target]
    pairs = candidate_pairs(order, statistics)
    if not pairs:
        return {}
    found: dict[str, str] = {}
    for later, earlier in equal_pairs(fs, files, pairs):
        # Pairs come earliest partner first; by transitivity that partner is no duplicate itself.
        found.setdefault(later, earlier)
    return {c: found[c] for c in order if c in found}


def drop_duplicates(features: list[str], duplicates: dict[str, str], *, named: bool,
                    keep: tuple[str, ...] = ()) -> list[str]:
    """``features`` without the duplicate columns, unless they were ``named`` (listed in
    ``data.features``) or are in ``keep`` (a checkpoint to resume was trained with them);
    one warning either way."""
    if not duplicates:
        return features
    kept = [c for c in duplicates if named or c in keep]
    dropped = [c for c in duplicates if c not in kept]
    for columns, outcome in ((dropped, "dropped from the features (name it in data.features to keep it)"),
                             (kept, f"kept because {'data.features' if named else 'the resumed checkpoint'} "
                                    "names it")):
        if columns:
            log.warning("feature column(s) %s in every row: no information the model does not already have, "
                        "and held still in multi-step forecasts while the target moves; %s",
                        ", ".join(f"{c!r} (= {duplicates[c]!r})" for c in columns), outcome)
    return [c for c in features if c not in dropped]
