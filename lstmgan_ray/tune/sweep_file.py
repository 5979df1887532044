"""The sweep file: a base config, a search space of dotted keys, and Tune settings, validated.

``configs/sweep.yaml`` is the example. Everything here is checked on the driver
before Ray starts, so a typo costs seconds, not a cluster: every searched key must
exist, every value a distribution can produce at its ends must pass the same
validation a training run does, and the scheduler and search algorithm must fit the
space (Optuna cannot do grids). The base config is built in the same layers as a
training run's, so a sweep trial and ``jobs/train.py`` given the same settings agree.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lstmgan_ray.config import (
    Config,
    ConfigError,
    anchor_paths,
    merge_overrides,
    merge_sections,
    parse_value,
    read_config_file,
    read_profile,
    read_yaml_mapping,
    set_dotted,
)
from lstmgan_ray.config.bundled import SWEEP_FILE
from lstmgan_ray.tune.space import candidate_values, check_space

MAX_WINDOW_LENGTHS = 16
TOP_LEVEL_KEYS = ("base", "search_space", "tune")


class SchedulerSettings(BaseModel):
    """Early stopping: ASHA on the metric, with rungs in epochs."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["asha", "none"] = "asha"
    grace_period: int = Field(2, ge=1, description="epochs every trial runs before it can be stopped")
    reduction_factor: float = Field(3.0, gt=1.0, description="keep the best 1/reduction_factor at each rung")


class TuneSettings(BaseModel):
    """How many trials, how many at once, and how they are chosen and stopped."""

    model_config = ConfigDict(extra="forbid")
    num_samples: int = Field(8, ge=1, description="samples drawn; with grid values, per grid point")
    max_concurrent_trials: int = Field(2, ge=1)
    metric: Literal["val_crps", "val_rmse"] = "val_crps"
    mode: Literal["min"] = "min"
    search_alg: Literal["random", "optuna"] = "random"
    scheduler: SchedulerSettings = SchedulerSettings()
    driver_resources: dict[str, float] = Field(
        default_factory=lambda: {"CPU": 1.0},
        description="Ray resources of each trial's driver (it launches and watches the trainer)")
    seed: int | None = Field(0, description="search algorithm seed; null for a fresh draw")


class SweepSpec(BaseModel):
    """A parsed sweep file: the base config (a raw dict, validated), the space, the Tune settings.

    The base stays raw so that derived defaults (``train.n_critic`` from ``train.loss``)
    follow each trial's sampled values instead of being frozen at the base's.
    """

    model_config = ConfigDict(extra="forbid")
    base: dict[str, Any]
    search_space: dict[str, dict[str, Any]]
    tune: TuneSettings

    def base_config(self) -> Config:
        return Config.from_dict(self.base)

    def trial_config(self, sampled: dict[str, Any]) -> Config:
        """The base config with one trial's sampled values applied."""
        raw = copy.deepcopy(self.base)
        for key, value in sampled.items():
            set_dotted(raw, key, value, origin=f"search_space {key}")
        return Config.from_dict(raw)

    def window_lengths(self) -> list[int]:
        """Every ``data.input_dim`` a trial can ask for (windows are prepared for each)."""
        dist = self.search_space.get("data.input_dim")
        if dist is None:
            return [self.base_config().data.input_dim]
        return sorted({int(v) for v in candidate_values(dist)})

    def param_space(self) -> dict[str, Any]:
        """The Tune ``param_space``: one entry per dotted key."""
        # Imported here, not at the top: the sweep file is validated before Ray loads, so a
        # mistyped key is reported at once rather than after Ray's import.
        from ray import tune

        samplers = {"loguniform": tune.loguniform, "uniform": tune.uniform, "randint": tune.randint,
                    "choice": lambda *args: tune.choice(list(args)),
                    "grid": lambda *args: tune.grid_search(list(args))}
        space = {}
        for key, dist in self.search_space.items():
            (kind, args), = dist.items()
            space[key] = samplers[kind](*args)
        return space


def load_sweep(path: str | Path, overrides: list[str] | None = None, profile: str | None = None,
               **flags: Any) -> SweepSpec:
    """Read a sweep file; CLI ``overrides``/``flags`` change its base config (and ``tune.*``).

    The base config takes the layers of a training run: code defaults < ``profile`` <
    the ``base`` file < the sweep file's data/model/train/run sections < ``overrides``
    < ``flags``.

    Args:
        path: the sweep YAML. ``base`` names a config file relative to it (optional).
        overrides: ``section.key=value`` strings, as for training; ``tune.key=value`` too.
        profile: a named preset (``config.available_profiles()``) laid under the base file.
        flags: dotted keys from dedicated flags (``train.epochs``, ``tune.num_samples``, ...).
    """
    path = Path(path)
    raw = _read_sweep_file(path)
    tune_raw = _tune_section(raw, path)
    overrides, flags = _route_tune_settings(tune_raw, overrides, flags)
    base = merge_overrides(_base_layers(raw, path, profile), overrides, **flags)
    Config.from_dict(base)  # the base alone must be valid, before the space is checked against it
    spec = SweepSpec(base=base, search_space=check_space(raw.get("search_space"), base, str(path)),
                     tune=_tune_settings(tune_raw, path))
    _check_fit(spec, str(path))
    return spec


def _read_sweep_file(path: Path) -> dict[str, Any]:
    raw = read_yaml_mapping(path, "sweep file")
    known = {*TOP_LEVEL_KEYS, *Config.model_fields}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(map(repr, unknown))} "
                          f"(known: {', '.join(sorted(known))})")
    return raw


def _base_layers(raw: dict[str, Any], path: Path, profile: str | None) -> dict[str, Any]:
    """Profile < base file < the sweep file's own sections, as a raw (unvalidated) config."""
    base = read_profile(profile)
    if raw.get("base") is not None:
        base_file = Path(raw["base"])
        base = merge_sections(base, read_config_file(base_file if base_file.is_absolute()
                                                     else path.parent / base_file))
    for section in Config.model_fields:
        body = raw.get(section)
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: section {section!r} must be a mapping")
        body = anchor_paths({section: dict(body)}, path.parent)[section]  # relative to the sweep file
        for key, value in body.items():
            set_dotted(base, f"{section}.{key}", value, origin=f"{path}: {section}.{key}")
    return base


def _tune_section(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    tune_raw = copy.deepcopy(raw.get("tune") or {})
    if not isinstance(tune_raw, dict):
        raise ConfigError(f"{path}: 'tune' must be a mapping")
    return tune_raw


def _route_tune_settings(tune_raw: dict[str, Any], overrides: list[str] | None,
                         flags: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Apply the command line's ``tune.*`` settings to ``tune_raw``; return the config's share of it.

    One ``--set`` and one set of flags serve both the training config and Tune, as users
    expect; only the config's share goes through the config layers.
    """
    config_overrides, config_flags = [], {}
    for item in overrides or []:
        key = item.split("=", 1)[0].strip()
        if not key.startswith("tune."):
            config_overrides.append(item)
        elif "=" not in item:
            raise ConfigError(f"--set {item!r}: expected tune.key=value")
        else:
            _set_tune(tune_raw, key, parse_value(item.split("=", 1)[1]), origin=f"--set {item}")
    for key, value in flags.items():
        if value is not None and key.startswith("tune."):
            _set_tune(tune_raw, key, value, origin=key)
        elif value is not None:
            config_flags[key] = value
    return config_overrides, config_flags


def _set_tune(tune_raw: dict[str, Any], key: str, value: Any, origin: str) -> None:
    parts = key.split(".")
    fields = list(TuneSettings.model_fields)
    if len(parts) == 3 and parts[1] == "scheduler":
        tune_raw.setdefault("scheduler", {})[parts[2]] = value
        return
    if len(parts) != 2 or parts[1] not in fields:
        raise ConfigError(f"{origin}: unknown sweep setting {key!r} (known: "
                          f"{', '.join('tune.' + f for f in fields)}, tune.scheduler.*)")
    tune_raw[parts[1]] = value


def _tune_settings(tune_raw: dict[str, Any], path: Path) -> TuneSettings:
    try:
        return TuneSettings.model_validate(tune_raw)
    except ValidationError as err:
        raise ConfigError(f"{path}: tune: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())) from None


def _check_fit(spec: SweepSpec, origin: str) -> None:
    """Cross-checks: Optuna takes no grids; window lengths are finite and few."""
    kinds = {next(iter(d)) for d in spec.search_space.values()}
    if spec.tune.search_alg == "optuna" and "grid" in kinds:
        raise ConfigError(f"{origin}: tune.search_alg=optuna cannot sample 'grid' values; use 'choice'")
    lengths = spec.window_lengths()
    if len(lengths) > MAX_WINDOW_LENGTHS:
        raise ConfigError(f"{origin}: search_space data.input_dim allows {len(lengths)} window lengths; "
                          f"each needs its own prepared windows, so at most {MAX_WINDOW_LENGTHS}")


def trial_count(spec: SweepSpec) -> int:
    """Trials a sweep runs: ``num_samples`` times the number of grid points."""
    points = 1
    for dist in spec.search_space.values():
        if "grid" in dist:
            points *= len(dist["grid"])
    return spec.tune.num_samples * points


def default_sweep_file() -> str:
    """The example sweep file shipped inside the package (``configs/sweep.yaml`` in a checkout)."""
    return SWEEP_FILE
