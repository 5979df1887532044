"""The sweep file: a base config, a search space of dotted keys, and Tune settings, validated.

``configs/sweep.yaml`` is the example. Everything here is checked on the driver
before Ray starts: every searched key must exist, every value a distribution can
produce at its ends must pass the same validation a training run does, and the
scheduler and search algorithm must fit the space (Optuna cannot do grids).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lstmgan_ray.config import (Config, ConfigError, as_number, check_key, merge_overrides, merge_sections,
                                parse_value, read_config_file, read_profile, set_dotted)

DISTRIBUTIONS = ("loguniform", "uniform", "choice", "randint", "grid")
# Windows are prepared once per sweep, so of the data section only the window length can vary
# (one preparation per candidate length); run placement belongs to the sweep, not to a trial.
SEARCHABLE_SECTIONS = ("model", "train")
SEARCHABLE_DATA_KEYS = ("data.input_dim",)
INTEGER_KEYS = ("data.input_dim", "train.batch_size", "train.epochs", "train.n_critic",
                "train.shuffle_buffer", "train.seed", "model.noise_dim")
MAX_WINDOW_LENGTHS = 16


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
    metric: Literal["val_rmse"] = "val_rmse"
    mode: Literal["min"] = "min"
    search_alg: Literal["random", "optuna"] = "random"
    scheduler: SchedulerSettings = SchedulerSettings()
    driver_resources: dict[str, float] = Field(
        default_factory=lambda: {"CPU": 1.0},
        description="Ray resources of each trial's driver (it launches and watches the trainer)")
    seed: int | None = Field(0, description="search algorithm seed; null for a fresh draw")


class SweepSpec(BaseModel):
    """A parsed sweep file: the base config (a raw dict, validated), the space, the Tune settings."""

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
        from ray import tune

        space = {}
        for key, dist in self.search_space.items():
            (kind, args), = dist.items()
            if kind == "loguniform":
                space[key] = tune.loguniform(*args)
            elif kind == "uniform":
                space[key] = tune.uniform(*args)
            elif kind == "randint":
                space[key] = tune.randint(*args)
            elif kind == "choice":
                space[key] = tune.choice(list(args))
            else:
                space[key] = tune.grid_search(list(args))
        return space


def candidate_values(dist: dict[str, Any]) -> list[Any]:
    """The values a distribution can produce that are worth validating: every listed one, or the ends."""
    (kind, args), = dist.items()
    if kind in ("choice", "grid"):
        return list(args)
    if kind == "randint":
        return list(range(args[0], args[1]))
    return [args[0], args[1]]


def load_sweep(path: str | Path, overrides: list[str] | None = None, profile: str | None = None,
               **flags: Any) -> SweepSpec:
    """Read a sweep file; CLI ``overrides``/``flags`` change its base config (and ``tune.*``).

    Args:
        path: the sweep YAML. ``base`` names a config file relative to it (optional);
            the ``data``/``model``/``train``/``run`` sections override that base.
        overrides: ``section.key=value`` strings, as for training; ``tune.key=value`` too.
        profile: a named preset (``config.available_profiles()``) laid over the base config
            file, under the sweep file's sections and the CLI's overrides.
        flags: dotted keys from dedicated flags (``train.epochs``, ``tune.num_samples``, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping, got {type(raw).__name__}")
    known = {"base", "search_space", "tune", *Config.model_fields}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(map(repr, unknown))} "
                          f"(known: {', '.join(sorted(known))})")

    base = {}
    if raw.get("base") is not None:
        base_file = Path(raw["base"])
        base = read_config_file(base_file if base_file.is_absolute() else path.parent / base_file)
    # The base file usually spells out every default (default.yaml), so a profile goes over it;
    # the sweep file's own sections, --set and flags still win.
    base = merge_sections(base, read_profile(profile))
    for section in Config.model_fields:
        body = raw.get(section)
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: section {section!r} must be a mapping")
        for key, value in body.items():
            set_dotted(base, f"{section}.{key}", value, origin=f"{path}: {section}.{key}")
    tune_raw = copy.deepcopy(raw.get("tune") or {})
    if not isinstance(tune_raw, dict):
        raise ConfigError(f"{path}: 'tune' must be a mapping")
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
    base = merge_overrides(base, config_overrides, **config_flags)
    Config.from_dict(base)  # the base alone must be valid, before the space is checked against it

    try:
        tune_settings = TuneSettings.model_validate(tune_raw)
    except ValidationError as err:
        raise ConfigError(f"{path}: tune: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())) from None
    space = raw.get("search_space") or {}
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{path}: search_space must map dotted keys to distributions, e.g. "
                          f"train.g_learning_rate: {{loguniform: [1.0e-5, 1.0e-3]}}")
    spec = SweepSpec(base=base, search_space=_check_space(space, base, str(path)),
                     tune=tune_settings)
    _check_fit(spec, str(path))
    return spec


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


def _check_space(space: dict[str, Any], base: dict[str, Any], origin: str) -> dict[str, dict[str, Any]]:
    """Every problem in the search space at once, each naming its key."""
    problems, clean = [], {}
    for key, dist in space.items():
        where = f"search_space {key}"
        try:
            parts = str(key).split(".")
            if len(parts) != 2:
                raise ConfigError("keys look like section.key")
            check_key(parts, where)
        except ConfigError as err:
            problems.append(str(err) if str(err).startswith(where) else f"{where}: {err}")
            continue
        if parts[0] not in SEARCHABLE_SECTIONS and key not in SEARCHABLE_DATA_KEYS:
            problems.append(f"{where}: cannot be searched; a sweep prepares the data once and places "
                            f"every trial alike, so only model.*, train.* and data.input_dim vary")
            continue
        if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            problems.append(f"{where}: expected one of {{{', '.join(DISTRIBUTIONS)}}}: [...], got {dist!r}")
            continue
        (kind, args), = dist.items()
        args = [as_number(a) for a in args] if isinstance(args, list) else args
        if not isinstance(args, list) or not args:
            problems.append(f"{where}: {kind} needs a non-empty list, got {args!r}")
            continue
        if kind in ("loguniform", "uniform", "randint"):
            if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
                problems.append(f"{where}: {kind} needs [low, high] numbers, got {args!r}")
                continue
            if not args[0] < args[1]:
                problems.append(f"{where}: {kind} needs low < high, got {args!r}")
                continue
            if kind == "loguniform" and args[0] <= 0:
                problems.append(f"{where}: loguniform needs low > 0, got {args!r}")
                continue
            if kind == "randint" and not all(isinstance(a, int) for a in args):
                problems.append(f"{where}: randint needs integer [low, high) bounds, got {args!r}")
                continue
        if key in INTEGER_KEYS and kind in ("loguniform", "uniform"):
            problems.append(f"{where}: an integer setting; use choice, grid or randint, not {kind}")
            continue
        bad = []
        for value in candidate_values(dist):
            raw = copy.deepcopy(base)
            try:
                set_dotted(raw, key, value, origin=where)
                Config.from_dict(raw)
            except ConfigError as err:
                bad.append(f"{value!r}: {str(err).removeprefix('invalid config:').strip()}")
        if bad:
            problems.append(f"{where}: " + "; ".join(bad))
            continue
        clean[key] = {kind: args}
    if problems:
        raise ConfigError(f"{origin}: invalid search space:\n  " + "\n  ".join(problems))
    return clean


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
    """``configs/sweep.yaml`` of this checkout (the jobs run from the repository)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "sweep.yaml")
