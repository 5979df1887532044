"""Data: the Parquet contract, driver-side validation from file footers, the per-series windowing
(pure pandas/NumPy), the Ray Data pipeline that turns bars into train/val/test windows with
per-series scalers fitted on training rows only, the per-epoch global shuffle of the training
windows, and inference windows cut with a checkpoint's scaler. Knows nothing of models or training.

Exports are loaded on first use: the pipeline imports Ray Data, which a command line validating
its flags should not pay for.
"""

from lstmgan_ray._lazy import lazy_exports
from lstmgan_ray.errors import DataError

_EXPORTS = {
    "contract": ["SINGLE_SERIES", "SPLITS", "make_spec", "resolve_features", "resolve_transforms",
                 "transform_column"],
    "windows": ["empty_windows", "prepare_series", "series_stats", "series_windows", "split_sizes",
                "value_problems"],
    "validate": ["DatasetInfo", "inspect_dataset", "list_parquet_files"],
    "pipeline": ["Prepared", "configure_ray_data", "only_split", "prepare_datasets", "read_bars",
                 "series_udf", "stats_udf"],
    "shuffle": ["epoch_order", "gather_rows", "shuffled_batches", "worker_share"],
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
__all__ += ["DataError"]
