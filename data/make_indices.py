"""Rebuild the bundled sample data from the daily index bars that the `arch` package ships: the
shards live inside the package, in lstmgan_ray/bundled/data/indices/ (data/indices/ links there).

Run once by maintainers (`pip install arch && python data/make_indices.py`); the
Parquet shards it writes are committed, so users never need `arch`.
"""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parents[1] / "lstmgan_ray" / "bundled" / "data" / "indices"
COLUMNS = {"Open": "open", "High": "high", "Low": "low", "Close": "close",
           "Adj Close": "adj_close", "Volume": "volume"}


def main() -> None:
    from arch.data import nasdaq, sp500

    OUT.mkdir(parents=True, exist_ok=True)
    for series_id, module in (("SP500", sp500), ("NASDAQ", nasdaq)):
        bars = module.load().rename(columns=COLUMNS)[list(COLUMNS.values())]
        bars = bars.rename_axis("timestamp").reset_index()
        bars.insert(1, "series_id", series_id)
        bars["volume"] = bars["volume"].astype("float64")
        # Two shards per series, split at a year boundary, so that the bundled
        # data exercises windows of one series spread over several files.
        for part, (_, chunk) in enumerate(bars.groupby(bars["timestamp"].dt.year >= 2009)):
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            table = table.cast(table.schema.set(1, pa.field("series_id", pa.string())))
            pq.write_table(table, OUT / f"{series_id.lower()}-{part}.parquet")
    print(f"wrote {sorted(p.name for p in OUT.glob('*.parquet'))}")


if __name__ == "__main__":
    main()
