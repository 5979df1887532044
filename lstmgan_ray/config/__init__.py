"""The job's settings: a typed, validated ``Config`` (data, model, train and run sections) whose
field defaults are the only defaults in the project, and the layers that build it from a profile,
a YAML file, ``--set`` overrides and command-line flags, in that order. Light to import (pydantic
and PyYAML only), so a command line validates its input before Ray or TensorFlow load.
"""

from lstmgan_ray.config.bundled import BUNDLED_DATA, DEFAULT_CONFIG, REFERENCE_CONFIG, SWEEP_FILE, bundled_path
from lstmgan_ray.config.loading import (
    AUTO_PROFILE,
    CPU_PROFILE,
    DEFAULT_PROFILE,
    PATH_KEYS,
    anchor_paths,
    apply_overrides,
    as_number,
    available_profiles,
    check_key,
    load_config,
    merge_overrides,
    merge_sections,
    parse_value,
    read_config_file,
    read_profile,
    read_yaml_mapping,
    resolve_profile,
    set_dotted,
)
from lstmgan_ray.config.schema import (
    Config,
    DataSection,
    ModelSection,
    RunSection,
    TrainSection,
    did_you_mean,
    field_names,
)
from lstmgan_ray.config.tracking import check_tracking, mlflow_installed
from lstmgan_ray.errors import ConfigError

__all__ = [
    "AUTO_PROFILE", "BUNDLED_DATA", "CPU_PROFILE", "DEFAULT_CONFIG", "DEFAULT_PROFILE", "PATH_KEYS", "REFERENCE_CONFIG",
    "SWEEP_FILE", "Config", "ConfigError", "DataSection", "ModelSection", "RunSection", "TrainSection",
    "anchor_paths", "apply_overrides", "as_number", "available_profiles", "bundled_path", "check_key", "check_tracking",
    "did_you_mean", "field_names", "load_config", "merge_overrides", "merge_sections", "mlflow_installed",
    "parse_value", "read_config_file", "read_profile", "read_yaml_mapping", "resolve_profile", "set_dotted",
]
