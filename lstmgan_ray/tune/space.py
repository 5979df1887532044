"""The search space: dotted config keys, each with one distribution, checked before Ray starts.

Every problem is reported at once, each naming its key, so one edit of the sweep file
fixes them all; and every value a distribution can produce at its ends is validated
as a training run would validate it, so no trial fails on a setting the driver could
have refused.
"""

from __future__ import annotations

import copy
from typing import Any

from lstmgan_ray.config import Config, ConfigError, as_number, check_key, set_dotted

DISTRIBUTIONS = ("loguniform", "uniform", "choice", "randint", "grid")
RANGE_KINDS = ("loguniform", "uniform", "randint")
# Windows are prepared once per sweep, so of the data section only the window length can vary
# (one preparation per candidate length); run placement belongs to the sweep, not to a trial.
SEARCHABLE_SECTIONS = ("model", "train")
SEARCHABLE_DATA_KEYS = ("data.input_dim",)
INTEGER_KEYS = ("data.input_dim", "train.batch_size", "train.epochs", "train.n_critic",
                "train.shuffle_buffer", "train.seed", "model.noise_dim")


def candidate_values(dist: dict[str, Any]) -> list[Any]:
    """The values a distribution can produce that are worth validating: every listed one, or the ends."""
    (kind, args), = dist.items()
    if kind in ("choice", "grid"):
        return list(args)
    if kind == "randint":
        return list(range(args[0], args[1]))
    return [args[0], args[1]]


def check_space(space: Any, base: dict[str, Any], origin: str) -> dict[str, dict[str, Any]]:
    """Every problem in the search space at once, each naming its key, so one edit fixes them all."""
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{origin}: search_space must map dotted keys to distributions, e.g. "
                          f"train.g_learning_rate: {{loguniform: [1.0e-5, 1.0e-3]}}")
    problems, clean = [], {}
    for key, dist in space.items():
        try:
            clean[key] = _checked_entry(str(key), dist, base)
        except ConfigError as err:
            problems.append(str(err))
    if problems:
        raise ConfigError(f"{origin}: invalid search space:\n  " + "\n  ".join(problems))
    return clean


def _checked_entry(key: str, dist: Any, base: dict[str, Any]) -> dict[str, Any]:
    """One search-space entry, with numbers made numbers; ConfigError names the key."""
    where = f"search_space {key}"
    _check_searchable(key, where)
    kind, args = _check_distribution(key, dist, where)
    bad = []
    for value in candidate_values({kind: args}):
        raw = copy.deepcopy(base)
        try:
            set_dotted(raw, key, value, origin=where)
            Config.from_dict(raw)
        except ConfigError as err:
            bad.append(f"{value!r}: {str(err).removeprefix('invalid config:').strip()}")
    if bad:
        raise ConfigError(f"{where}: " + "; ".join(bad))
    return {kind: args}


def _check_searchable(key: str, where: str) -> None:
    parts = key.split(".")
    if len(parts) != 2:
        raise ConfigError(f"{where}: keys look like section.key")
    check_key(parts, where)
    if parts[0] not in SEARCHABLE_SECTIONS and key not in SEARCHABLE_DATA_KEYS:
        raise ConfigError(f"{where}: cannot be searched; a sweep prepares the data once and places "
                          f"every trial alike, so only model.*, train.* and data.input_dim vary")


def _check_distribution(key: str, dist: Any, where: str) -> tuple[str, list[Any]]:
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: expected one of {{{', '.join(DISTRIBUTIONS)}}}: [...], got {dist!r}")
    (kind, args), = dist.items()
    args = [as_number(a) for a in args] if isinstance(args, list) else args
    if not isinstance(args, list) or not args:
        raise ConfigError(f"{where}: {kind} needs a non-empty list, got {args!r}")
    problem = _range_problem(kind, args) if kind in RANGE_KINDS else None
    if problem:
        raise ConfigError(f"{where}: {problem}, got {args!r}")
    if key in INTEGER_KEYS and kind in ("loguniform", "uniform"):
        raise ConfigError(f"{where}: an integer setting; use choice, grid or randint, not {kind}")
    return kind, args


def _range_problem(kind: str, args: list[Any]) -> str | None:
    """What is wrong with a ``[low, high]`` pair, if anything."""
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        return f"{kind} needs [low, high] numbers"
    if not args[0] < args[1]:
        return f"{kind} needs low < high"
    if kind == "loguniform" and args[0] <= 0:
        return "loguniform needs low > 0"
    if kind == "randint" and not all(isinstance(a, int) for a in args):
        return "randint needs integer [low, high) bounds"
    return None
