"""Which checkpoint is "best": the distributional score by default, the point forecast on request."""

from types import SimpleNamespace

import pytest

from lstmgan_ray.config import Config, ConfigError
from lstmgan_ray.train.driver import METRIC_KEYS, outcome_from_result


def reported(tmp_path):
    """Three epochs as Ray Train reports them: sharp and wrong, calibrated, and a preemption point."""
    epochs = [{"epoch": 1, "val_rmse": 1.0, "val_crps": 0.30},
              {"epoch": 2, "val_rmse": 1.2, "val_crps": 0.10},
              {"epoch": 2, "preempted_at_step": 5, "val_rmse": float("nan"), "val_crps": float("nan")}]
    ckpts = [SimpleNamespace(path=str(tmp_path / f"c{i}")) for i in range(3)]
    return SimpleNamespace(best_checkpoints=list(zip(ckpts, epochs)), path=str(tmp_path))


def test_checkpoints_are_picked_by_val_crps_unless_told_otherwise(tmp_path):
    assert Config().train.checkpoint_metric == "val_crps"
    assert {"val_crps", "val_coverage90", "val_rmse", "val_rmse_persistence"} <= set(METRIC_KEYS)
    by_crps = outcome_from_result(reported(tmp_path), Config().train.checkpoint_metric)
    assert by_crps.best_checkpoint.endswith("c1") and by_crps.metrics["epoch"] == 2
    by_rmse = outcome_from_result(reported(tmp_path), "val_rmse")
    assert by_rmse.best_checkpoint.endswith("c0") and by_rmse.metrics["epoch"] == 1


def test_sampling_settings_are_checked():
    with pytest.raises(ConfigError, match="samples_per_window >= 2"):
        Config.from_dict({"train": {"samples_per_window": 1}})
    assert Config.from_dict({"train": {"samples_per_window": 1, "supervised_loss": "l1"}}).train.samples_per_window == 1
    with pytest.raises(ConfigError, match="multiple of 20"):
        Config.from_dict({"train": {"val_samples": 20}})
    assert Config.from_dict({"train": {"val_samples": 39}}).train.val_samples == 39
