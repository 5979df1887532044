"""Config: defaults are the design, overrides are typed, mistakes name the key."""

import os
from pathlib import Path

import pytest
import yaml

from lstmgan_ray.config import DEFAULT_CONFIG, Config, ConfigError, load_config


def test_defaults_are_the_reference_design():
    cfg = Config()
    assert cfg.model.generator_units == [1024, 512, 256, 128, 64]
    assert cfg.model.generator_dense == [32, 16, 8]
    assert cfg.model.recurrent_dropout == 0.3
    assert cfg.model.discriminator_filters == [8, 16, 32, 64, 128]
    assert cfg.model.noise_dim > 0 and cfg.train.supervised_weight > 0
    assert cfg.train.n_critic == 1
    assert Config.from_dict({"train": {"loss": "wgan-gp"}}).train.n_critic == 5


def test_default_yaml_documents_the_code_defaults():
    # The file changes nothing; its commented-out lines are the defaults, and must stay true.
    assert load_config("configs/default.yaml") == Config()
    text = Path(DEFAULT_CONFIG).read_text().split("# ---\n", 1)[1]
    documented = yaml.safe_load("\n".join(line[2:] for line in text.splitlines()))
    assert set(documented) == {"data", "model", "train", "run"}
    # data.path is written relative to the file (the sample data beside it, inside the package)
    documented["data"]["path"] = os.path.normpath(os.path.join(os.path.dirname(DEFAULT_CONFIG),
                                                               documented["data"]["path"]))
    assert Config.from_dict(documented) == Config()
    assert all(set(documented[s]) == set(type(getattr(Config(), s)).model_fields) for s in documented)


def test_set_overrides_are_yaml_typed_and_flags_win(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 3\n  batch_size: 64\n")
    cfg = load_config(path, ["model.generator_units=[64,32]", "train.g_learning_rate=2e-4", "train.epochs=5"],
                      **{"train.epochs": 7, "run.name": None})
    assert cfg.model.generator_units == [64, 32]
    assert cfg.train.g_learning_rate == 2e-4
    assert cfg.train.batch_size == 64 and cfg.train.epochs == 7


def test_roundtrip_through_dict():
    cfg = load_config(None, ["data.splits=[0.8,0.1,0.1]"])
    assert Config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("override, message", [
    ("train.batchsize=3", "did you mean 'batch_size'"),
    ("trian.epochs=3", "did you mean 'train'"),
    ("train.epochs=0", "train.epochs"),
    ("train.epochs=many", "train.epochs"),
    ("model.generator_units=[64,-1]", "generator_units"),
    ("train.g_learning_rate=0", "train.g_learning_rate"),
    ("data.input_dim=0", "data.input_dim"),
    ("data.splits=[0.5,0.2,0.2]", "summing to 1"),
    ("train.loss=hinge", "train.loss"),
    ("epochs=3", "section.key"),
])
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(None, [override])


def test_batch_not_divisible_by_workers():
    with pytest.raises(ConfigError, match="not divisible"):
        load_config(None, ["train.batch_size=10", "run.num_workers=3"])
    # Elastic: every count the run may shrink or grow to must split the batch.
    with pytest.raises(ConfigError, match="not divisible by 3 workers of run.num_workers=2-4"):
        load_config(None, ["train.batch_size=16", "run.num_workers=[2,4]"])
    run = load_config(None, ["train.batch_size=12", "run.num_workers=[2,4]"]).run
    assert (run.min_workers, run.max_workers, run.elastic, run.workers_text()) == (2, 4, True, "2-4")
    assert load_config(None, ["run.num_workers=[2,2]"]).run.num_workers == 2
    with pytest.raises(ConfigError, match="min <= max"):
        load_config(None, ["run.num_workers=[3,1]"])


def test_unknown_keys_in_yaml_all_reported(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epoch: 3\nmodle:\n  x: 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "train.epoch" in str(err.value) and "'modle'" in str(err.value)


def test_num_workers_flag_takes_a_count_or_a_range():
    from lstmgan_ray.cli.train import train_parser

    parser = train_parser()
    assert parser.parse_args(["--num-workers", "3"]).num_workers == 3
    assert parser.parse_args(["--num-workers", "2-8"]).num_workers == [2, 8]
    with pytest.raises(SystemExit):
        parser.parse_args(["--num-workers", "two"])


def test_reference_config_reproduces_the_original_setup():
    ref = load_config("configs/reference.yaml")
    assert (ref.data.input_dim, ref.data.output_dim) == (3, 1)
    assert (ref.train.loss, ref.train.supervised_loss, ref.train.samples_per_window) == ("gan", "l1", 1)
    assert ref.train.checkpoint_metric == "val_rmse"
    assert ref.model == Config().model  # the design's networks, as in the default
