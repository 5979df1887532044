"""The sweep file's contract: the bundled example, grids, every problem named before Ray starts, Optuna."""

import os

import pytest
import yaml

from lstmgan_ray.config import ConfigError
from lstmgan_ray.tune.sweep_file import load_sweep, trial_count

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQUIRED_SEARCH_KEYS = {"train.g_learning_rate", "train.d_learning_rate", "train.loss", "train.supervised_weight",
                        "model.noise_dim", "data.input_dim", "train.batch_size", "model.width_multiplier"}


def test_bundled_sweep_file_covers_the_issue_space_and_maps_to_tune():
    from ray.tune.search.sample import Categorical, Float, LogUniform

    spec = load_sweep(os.path.join(ROOT, "configs", "sweep.yaml"), ["tune.num_samples=5"],
                      **{"train.epochs": 4, "tune.max_concurrent_trials": 3})
    assert REQUIRED_SEARCH_KEYS <= set(spec.search_space)
    assert spec.tune.num_samples == 5 and spec.tune.max_concurrent_trials == 3
    assert spec.tune.scheduler.type == "asha" and spec.base_config().train.epochs == 4
    space = spec.param_space()
    assert isinstance(space["train.g_learning_rate"], Float)
    assert isinstance(space["train.g_learning_rate"].get_sampler(), LogUniform)
    assert isinstance(space["train.loss"], Categorical)
    assert spec.window_lengths() == [10, 20, 30]
    # Derived defaults follow the sampled values: wgan-gp brings its 5 critic steps.
    assert spec.trial_config({"train.loss": "wgan-gp"}).train.n_critic == 5
    assert spec.trial_config({"train.loss": "gan"}).train.n_critic == 1
    assert spec.trial_config({"model.width_multiplier": 0.5}).model.width_multiplier == 0.5


def test_grid_values_multiply_the_samples(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"search_space": {"train.loss": {"grid": ["gan", "wgan-gp"]},
                                                     "train.seed": {"grid": [0, 1, 2]},
                                                     "train.g_learning_rate": {"loguniform": ["1e-5", "1e-3"]}},
                                    "tune": {"num_samples": 2}}))
    spec = load_sweep(path)
    assert trial_count(spec) == 12
    assert spec.search_space["train.g_learning_rate"] == {"loguniform": [1e-5, 1e-3]}
    assert spec.param_space()["train.seed"] == {"grid_search": [0, 1, 2]}


def test_bad_sweep_file_names_every_problem_before_ray_starts(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"search_space": {
        "train.g_learnig_rate": {"loguniform": [1e-5, 1e-3]},
        "train.loss": {"choice": ["gan", "wgan"]},
        "data.target": {"choice": ["close", "open"]},
        "data.input_dim": {"uniform": [2, 5]},
        "train.batch_size": {"randint": [0, 4]},
        "model.dropout": {"uniform": [0.5, 0.2]},
        "train.supervised_weight": {"beta": [1, 2]},
    }}))
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    msg = str(err.value)
    for culprit in ("did you mean 'g_learning_rate'", "'wgan'", "data.target: cannot be searched",
                    "data.input_dim: an integer setting", "train.batch_size: 0:",
                    "model.dropout: uniform needs low < high", "train.supervised_weight: expected one of"):
        assert culprit in msg, culprit
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"search_space": {"train.seed": {"grid": [0, 1]}},
                                    "tune": {"search_alg": "optuna"}}))
    with pytest.raises(ConfigError, match="optuna cannot sample 'grid'"):
        load_sweep(grid)
    with pytest.raises(ConfigError, match="unknown sweep setting 'tune.num_sample'"):
        load_sweep(os.path.join(ROOT, "configs", "sweep.yaml"), ["tune.num_sample=3"])


def test_optuna_tpe_suggests_configs_inside_the_space(tmp_path):
    from lstmgan_ray.tune.run import _search_alg

    path = tmp_path / "o.yaml"
    path.write_text(yaml.safe_dump({"search_space": {
        "train.g_learning_rate": {"loguniform": [1e-5, 1e-3]}, "train.loss": {"choice": ["gan", "wgan-gp"]},
        "data.input_dim": {"randint": [3, 6]}}, "tune": {"search_alg": "optuna"}}))
    spec = load_sweep(path)
    searcher = _search_alg(spec)
    assert searcher.set_search_properties("val_rmse", "min", spec.param_space())
    configs = [searcher.suggest(f"t{i}") for i in range(2)]
    # tune.max_concurrent_trials (2) bounds the suggestions in flight...
    assert searcher.suggest("t2") is None
    searcher.on_trial_complete("t0", {"val_rmse": 1.0, "epoch": 1})
    configs.append(searcher.suggest("t2"))  # ...and a finished trial frees a place.
    for config in configs:
        assert 1e-5 <= config["train.g_learning_rate"] <= 1e-3
        assert config["train.loss"] in ("gan", "wgan-gp") and config["data.input_dim"] in (3, 4, 5)


# -- one real sweep -------------------------------------------------------------


def test_sweeps_judge_trials_by_val_crps_unless_told_otherwise(tmp_path):
    from lstmgan_ray.tune.sweep_file import TuneSettings

    assert TuneSettings().metric == "val_crps"
    path = tmp_path / "s.yaml"
    path.write_text("search_space:\n  train.g_learning_rate: {choice: [0.001]}\ntune: {metric: val_rmse}\n")
    assert load_sweep(str(path)).tune.metric == "val_rmse"
    path.write_text("search_space:\n  train.g_learning_rate: {choice: [0.001]}\ntune: {metric: d_loss}\n")
    with pytest.raises(ConfigError, match="metric"):
        load_sweep(str(path))


def test_a_sweep_in_use_or_not_there_is_refused_before_ray_starts(tmp_path, monkeypatch):
    """--resume of a sweep that is not there names the path; a sweep whose lease a live job holds
    (this test process) is refused naming it; neither starts Ray or leaves anything behind. (Ray may
    already run in this process, from the integration tests: a tripwire on the sweep's one way into
    Ray tells whether it got there.)"""
    import lstmgan_ray.tune.run as sweep_run
    from lstmgan_ray.errors import RunInUse

    def tripwire(*_args, **_kwargs):
        raise AssertionError("the sweep started Ray")

    monkeypatch.setattr(sweep_run, "init_ray", tripwire)
    from lstmgan_ray.storage import held_lease
    from lstmgan_ray.tune.run import run_sweep
    from tests.helpers import frames, tree_digest, write_dataset

    data = write_dataset(tmp_path / "d", frames(), files=2)
    storage = tmp_path / "sweeps"
    spec = load_sweep(os.path.join(ROOT, "configs", "sweep.yaml"), **{"data.path": data,
                                                                      "run.storage_path": str(storage)})
    with pytest.raises(ConfigError, match=f"--resume: no sweep to continue at {storage / 'sw'}"):
        run_sweep(spec, name="sw", resume=True)
    assert not os.path.exists(storage)  # nothing left behind: not even the storage folder it would have made
    (storage / "sw").mkdir(parents=True)
    (storage / "sw" / "sweep.json").write_text("{}")
    before = tree_digest(storage)
    with held_lease(str(storage / "sw")), pytest.raises(RunInUse) as refused:
        run_sweep(spec, name="sw")
    assert f"{storage / 'sw'} is in use by another job" in str(refused.value)
    assert f"(pid {os.getpid()} on " in str(refused.value)
    assert tree_digest(storage) == before
