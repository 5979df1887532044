"""The options of ``generate`` and ``evaluate``, validated once, before anything is read.

Like the training config, these are pydantic models, so a bad flag fails in a second,
before Ray or TensorFlow load, and the runners never re-check a number. Every problem is
reported at once, named by its command-line flag, because that is what the user typed.
This module imports pydantic only: the command line builds these objects before it
imports the rest of the subpackage.
"""

from __future__ import annotations

import os
import typing
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from lstmgan_ray.errors import ConfigError

Mode = Literal["forecast", "synthesize"]
Split = Literal["train", "val", "test", "all"]
MODES: tuple[str, ...] = typing.get_args(Mode)
SPLIT_CHOICES: tuple[str, ...] = typing.get_args(Split)


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _problem(error: dict[str, Any]) -> str:
    """One pydantic error in the words of the old hand-written checks (the tests and users rely on them)."""
    field = str(error["loc"][0]) if error["loc"] else ""
    kind, got = error["type"], error.get("input")
    if kind == "greater_than_equal":
        return f"{_flag(field)} must be >= {error['ctx']['ge']}, got {got}"
    if kind == "literal_error":
        choices = MODES if field == "mode" else SPLIT_CHOICES
        return f"{_flag(field)} {got!r}: use one of {', '.join(choices)}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return f"{_flag(field)}: {error['msg']} (got {got!r})"


def check_out(out: str) -> None:
    """Evaluate's figures and Markdown report are local files: refuse a URI before anything is read."""
    if "://" in out:
        raise ConfigError(f"invalid options:\n  --out {out}: evaluate writes a local directory (figures and a report)")


class ActorOptions(BaseModel):
    """What both jobs share: the noise seed, the output rule and the Ray Data actor pool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon: int | None = Field(None, ge=1)
    seed: int = 0
    batch_size: int = Field(128, ge=1)
    concurrency: int = Field(1, ge=1)
    num_cpus: float = 1.0
    num_gpus: float = Field(0.0, validate_default=True)  # checked with num_cpus
    overwrite: bool = False

    def __init__(self, **values: Any) -> None:
        """Validate, turning pydantic's errors into one ConfigError that names every bad flag."""
        try:
            super().__init__(**values)
        except ValidationError as err:
            problems = [_problem(e) for e in err.errors()]
            raise ConfigError("invalid options:\n  " + "\n  ".join(problems)) from None

    @field_validator("num_gpus")
    @classmethod
    def _positive_actor(cls, num_gpus: float, info: ValidationInfo) -> float:
        num_cpus = info.data.get("num_cpus", 1.0)
        if num_cpus < 0 or num_gpus < 0 or num_cpus + num_gpus <= 0:
            raise ValueError(f"--num-cpus {num_cpus:g} / --num-gpus {num_gpus:g}: an actor needs a positive amount")
        return num_gpus

    def actors(self) -> dict[str, Any]:
        """The keyword arguments of ``generate.generate_dataset`` that these options fix."""
        return {"seed": self.seed, "batch_size": self.batch_size, "concurrency": self.concurrency,
                "num_cpus": self.num_cpus, "num_gpus": self.num_gpus}


class GenerateOptions(ActorOptions):
    """``generate``: which windows, how many paths, how far (``horizon`` None: see ``run_generate``)."""

    mode: Mode = "forecast"
    paths: int = Field(100, ge=1)
    split: Split = "test"


class EvaluateOptions(ActorOptions):
    """``evaluate``: the paths behind the fan and the synthetic data, and the budgets of every score."""

    paths: int = Field(50, ge=2)
    seq_len: int = Field(24, ge=3)
    holdout: float = 0.2
    max_lag: int = Field(20, ge=1)
    baseline_epochs: int | None = Field(None, ge=1)
    baseline_model: str | None = None
    classifier_epochs: int = Field(40, ge=1)
    classifier_seeds: int = Field(5, ge=1)  # discriminative scores are the mean (and sd) over this many
    tsne: bool = True

    @field_validator("holdout")
    @classmethod
    def _fraction(cls, holdout: float) -> float:
        if not 0 < holdout < 1:
            raise ValueError(f"--holdout must be between 0 and 1, got {holdout}")
        return holdout

    @field_validator("baseline_model")
    @classmethod
    def _existing(cls, path: str | None) -> str | None:
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"--baseline-model {path}: no such file")
        return path
