"""Building a ``Config`` from layers: defaults < profile < file < ``--set`` < flags.

One YAML loader and one error format for config files, sweep files and profiles;
``--set section.key=value`` parsing with "did you mean" for unknown keys. Training
and sweeps apply the layers in the same order.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import yaml

from lstmgan_ray.config.schema import Config, did_you_mean, field_names
from lstmgan_ray.errors import ConfigError

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_PROFILE = "default"
DESIGN_PROFILE = "design"  # another name for default: the design's widths, no preset
AUTO_PROFILE = "auto"
CPU_PROFILE = "cpu"


def available_profiles() -> list[str]:
    """Named presets: ``default``/``design`` (the design, no preset), ``auto`` (``resolve_profile``)
    and every ``lstmgan_ray/config/profiles/*.yaml``."""
    return [DEFAULT_PROFILE, DESIGN_PROFILE, AUTO_PROFILE] + sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def resolve_profile(profile: str | None, path: str | Path | None = None, overrides: list[str] | None = None,
                    **flags: Any) -> str:
    """The profile ``auto`` stands for: ``cpu`` unless the run asks for GPU workers (``run.use_gpu``
    after the file, ``--set`` and flags), where the full design trains in minutes; others as named.

    The design's 1024-unit LSTMs over a 20-step window take about half an hour for the default
    10 epochs on a 2-core CPU; the ``cpu`` profile's quarter-width LSTMs take a few minutes.
    """
    if profile != AUTO_PROFILE:
        return profile or DEFAULT_PROFILE
    return DEFAULT_PROFILE if load_config(path, overrides, **flags).run.use_gpu else CPU_PROFILE


def read_profile(name: str | None) -> dict[str, Any]:
    """A profile's raw sections (empty for ``default``/``None``); shipped inside the package,
    so ``--profile`` works from an installed wheel as from a checkout."""
    if name in (None, DEFAULT_PROFILE, DESIGN_PROFILE):
        return {}
    if name == AUTO_PROFILE:
        raise ConfigError("profile 'auto' is resolved by resolve_profile() before the config is read")
    known = available_profiles()
    if name not in known:
        raise ConfigError(f"unknown profile {name!r}{did_you_mean(name, known)}")
    return read_config_file(PROFILE_DIR / f"{name}.yaml")


def merge_sections(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` laid over ``base`` key by key within each section (a user's file over a profile)."""
    out = copy.deepcopy(base)
    for section, body in top.items():
        if isinstance(body, dict) and isinstance(out.get(section), dict):
            out[section].update(copy.deepcopy(body))
        else:
            out[section] = copy.deepcopy(body)
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                profile: str | None = None, **flags: Any) -> Config:
    """Build the config: defaults < profile < YAML file < `--set` overrides < explicit CLI flags.

    Args:
        path: optional YAML file holding any subset of the sections.
        overrides: ``section.key=value`` strings; values are parsed as YAML.
        profile: a named preset (``available_profiles()``) laid under the file; ``None``: the design.
        flags: dotted keys (``"train.epochs"``) set by dedicated CLI flags; ``None`` skips.
    """
    raw = read_profile(profile)
    if path is not None:
        raw = merge_sections(raw, read_config_file(path))
    return apply_overrides(raw, overrides, **flags)


def read_yaml_mapping(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A YAML file that must hold a mapping (config, sweep file or profile), as a raw dict.

    The one reader of YAML in the project, so every file's problems read alike:
    ``<path>: not valid YAML: ...``, ``<what> not found: <path>``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(loaded).__name__}")
    return loaded or {}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a raw nested dict (validated later, with everything applied), its
    relative paths made relative to the file's directory (``anchor_paths``)."""
    return anchor_paths(read_yaml_mapping(path, "config file"), Path(path).parent)


PATH_KEYS = (("data", "path"), ("run", "storage_path"))


def anchor_paths(raw: dict[str, Any], directory: str | Path) -> dict[str, Any]:
    """``raw`` with each relative local path of ``PATH_KEYS`` joined to ``directory`` (in place).

    A path in a config or sweep file means the same wherever the job starts: it is relative to
    the file's directory, as the directory is named (symbolic links are not followed). URIs,
    absolute paths and ``~`` paths stay as written; paths from the command line are not touched.
    """
    for section, key in PATH_KEYS:
        body = raw.get(section)
        value = body.get(key) if isinstance(body, dict) else None
        if isinstance(value, str) and value and "://" not in value and not os.path.isabs(os.path.expanduser(value)):
            body[key] = os.path.normpath(os.path.join(os.path.abspath(directory), value))
    return raw


def apply_overrides(raw: dict[str, Any], overrides: list[str] | None = None, **flags: Any) -> Config:
    """Apply ``--set`` strings, then dotted flags, to a raw config dict and validate the result."""
    return Config.from_dict(merge_overrides(raw, overrides, **flags))


def merge_overrides(raw: dict[str, Any], overrides: list[str] | None = None, **flags: Any) -> dict[str, Any]:
    """A copy of ``raw`` with ``--set`` strings, then dotted flags, applied (not yet validated).

    Kept raw on purpose: derived defaults (``train.n_critic`` from ``train.loss``) must
    follow a value a sweep changes later, so they are resolved only at validation.
    """
    raw = copy.deepcopy(raw)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        key, value = item.split("=", 1)
        set_dotted(raw, key.strip(), parse_value(value), origin=f"--set {item}")
    for key, value in flags.items():
        if value is not None:
            set_dotted(raw, key, value, origin=key)
    return raw


def parse_value(text: str) -> Any:
    """A ``--set`` value, typed as YAML would type it (``1e-4`` stays a string; float fields accept it)."""
    if text == "":
        return ""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


_SCIENTIFIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def as_number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; where a number is meant, make it one."""
    if isinstance(value, str) and _SCIENTIFIC.match(value.strip()):
        return float(value)
    return value


def set_dotted(raw: dict[str, Any], key: str, value: Any, origin: str) -> None:
    parts = key.split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"{origin}: keys look like section.key (sections: {', '.join(field_names(Config))})")
    check_key(parts, origin)
    raw.setdefault(parts[0], {})
    if not isinstance(raw[parts[0]], dict):
        raise ConfigError(f"{origin}: section {parts[0]!r} is not a mapping")
    raw[parts[0]][parts[1]] = copy.deepcopy(value)


def check_key(parts: list[str], origin: str) -> None:
    section, key = parts
    sections = field_names(Config)
    if section not in sections:
        raise ConfigError(f"{origin}: unknown section {section!r}{did_you_mean(section, sections)}")
    section_model = Config.model_fields[section].annotation
    keys = field_names(section_model)
    if key not in keys:
        raise ConfigError(f"{origin}: unknown key {section}.{key}{did_you_mean(key, keys)}")
