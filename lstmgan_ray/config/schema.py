"""The typed config: four sections whose field defaults are the project's only defaults.

The defaults are the reference design; tests shrink the network through the same
fields instead of a second code path. Validation happens here, on the driver, before
Ray or TensorFlow start; workers rebuild the same object from its dict.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lstmgan_ray.config.bundled import BUNDLED_DATA
from lstmgan_ray.errors import ConfigError

Transform = Literal["log_return", "log1p_diff", "diff", "none"]




class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSection(_Section):
    """Where the Parquet bars are and how they become windows."""

    path: str = Field(BUNDLED_DATA, description="Parquet file, directory or URI; default: the sample "
                                                "dataset inside the package (data/indices in a checkout)")
    target: str = "close"
    features: list[str] | Literal["target", "all"] | None = Field(
        "target", description="target: the target alone, so multi-step rollouts feed back everything the "
                              "model reads; all (or null): every numeric column but the timestamp, "
                              "held still in rollouts; or a list of columns (the target always joins)")
    timestamp_column: str = "timestamp"
    series_column: str = "series_id"
    input_dim: int = Field(20, ge=1, description="window length in steps: about a trading month of daily "
                                                  "bars, enough to read the recent volatility (the design's "
                                                  "reference shape is 3: configs/reference.yaml)")
    output_dim: int = Field(1, ge=1, description="forecast horizon in steps")
    splits: tuple[float, float, float] = (0.7, 0.15, 0.15)
    # Prices are not stationary: the model sees per-step changes, scaled per series.
    target_transform: Transform = "log_return"
    feature_transform: Transform | Literal["auto"] = "auto"
    nan_policy: Literal["error", "ffill", "drop"] = "error"
    vol_scaling: Literal["ewma", "none"] = Field(
        "ewma", description="ewma: divide each window's target steps and its next values by the target's "
                            "exponentially weighted volatility known at the window's end, so the generator "
                            "learns standardised shocks and rollouts carry volatility clustering forward; "
                            "none: the series' training scale only")
    vol_decay: float = Field(0.94, gt=0.0, lt=1.0, description="ewma's weight on the previous variance "
                                                             "(0.94: RiskMetrics' daily value)")
    vol_reversion: float = Field(
        0.01, ge=0.0, description="ewma's pull towards the training variance per step (a GARCH(1,1) "
                                  "filter with persistence 1 - vol_reversion); 0: plain EWMA, whose "
                                  "long rollouts drift to zero volatility")
    vol_input: bool = Field(
        False, description="also give the generator the log of the filtered volatility at every step "
                           "of the window (an extra input channel, carried forward from generated "
                           "values in rollouts), so it knows the level its standardised window is at")

    @model_validator(mode="after")
    def _check_vol(self) -> DataSection:
        if self.vol_reversion >= self.vol_decay:
            raise ValueError(f"vol_reversion ({self.vol_reversion}) must be below vol_decay ({self.vol_decay})")
        if self.vol_input and self.vol_scaling == "none":
            raise ValueError("vol_input needs vol_scaling: ewma (it is that filter's volatility)")
        return self

    @model_validator(mode="after")
    def _check_splits(self) -> DataSection:
        if any(f < 0 for f in self.splits) or abs(sum(self.splits) - 1.0) > 1e-6:
            raise ValueError(f"splits must be three non-negative fractions summing to 1, got {list(self.splits)}")
        if self.splits[0] == 0:
            raise ValueError("splits: the training fraction must be > 0")
        return self


class ModelSection(_Section):
    """Layer widths and regularisation; defaults are the reference design's."""

    generator_units: list[int] = [1024, 512, 256, 128, 64]
    generator_dense: list[int] = [32, 16, 8]
    recurrent_dropout: float = Field(0.3, ge=0.0, lt=1.0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout between LSTM layers (cuDNN-friendly)")
    noise_dim: int = Field(4, ge=0, description="Gaussian noise channels appended to the window")
    noise_dof: float | None = Field(
        None, gt=2.0, description="Student-t degrees of freedom of the unit-variance noise; null: Gaussian. "
                                  "A network whose noise path is linear (noise_placement: head) passes on "
                                  "the noise's tails, which the Dense head can mix but not create")
    noise_placement: Literal["input", "head"] = Field(
        "input", description="input: noise channels on every window step, through the LSTMs (the design); "
                             "head: noise joins after the LSTMs, so the K draws of a window share one LSTM "
                             "pass, but the linear Dense head can only shift and scale it")
    discriminator_filters: list[int] = [8, 16, 32, 64, 128]
    discriminator_kernels: list[int] = [3, 3, 3, 3, 1]
    discriminator_dense: list[int] = [220, 220]
    leaky_relu_alpha: float = Field(0.01, ge=0.0)
    width_multiplier: float = Field(1.0, gt=0.0, description="scales every layer width above (sweeps)")

    @model_validator(mode="after")
    def _check_widths(self) -> ModelSection:
        for name in ("generator_units", "generator_dense", "discriminator_filters",
                     "discriminator_kernels", "discriminator_dense"):
            values = getattr(self, name)
            if any(v <= 0 for v in values):
                raise ValueError(f"{name} must hold positive integers, got {values}")
        if not self.generator_units:
            raise ValueError("generator_units needs at least one LSTM layer")
        if self.noise_placement == "head" and self.noise_dim < 1:
            raise ValueError("noise_placement head needs noise_dim >= 1")
        if len(self.discriminator_kernels) != len(self.discriminator_filters):
            raise ValueError(
                f"discriminator_kernels has {len(self.discriminator_kernels)} entries but "
                f"discriminator_filters has {len(self.discriminator_filters)}")
        return self


class TrainSection(_Section):
    """Optimisation: losses, learning rates and the global batch."""

    loss: Literal["gan", "wgan-gp"] = "gan"
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1, description="global batch, split evenly over workers")
    g_learning_rate: float = Field(3e-4, gt=0.0, description="Adam's rate for the generator (the design: 1e-4, "
                                                             "which left its draws too narrow in 10 epochs)")
    d_learning_rate: float = Field(3e-4, gt=0.0)
    beta_1: float = Field(0.5, ge=0.0, lt=1.0)
    beta_2: float = Field(0.9, ge=0.0, lt=1.0)
    n_critic: int | None = Field(None, ge=1, description="critic steps per generator step; 1 for gan, 5 for wgan-gp")
    gp_weight: float = Field(10.0, ge=0.0)
    supervised_loss: Literal["energy", "l1", "l2"] = Field(
        "energy", description="energy: the energy score of samples_per_window draws per window, a proper "
                              "scoring rule whose optimum is the true conditional distribution; l1/l2: "
                              "each draw's error, optimal for a generator that ignores its noise")
    supervised_weight: float = Field(1.0, ge=0.0)
    samples_per_window: int = Field(
        4, ge=1, description="noise draws per training window (K); each costs one more generator pass")
    val_samples: int = Field(
        19, ge=19, description="draws per validation window for val_crps and val_coverage90; K + 1 a "
                               "multiple of 20, so the central interval of the draws covers exactly 90%")
    checkpoint_metric: Literal["val_crps", "val_rmse"] = Field(
        "val_crps", description="what picks the best checkpoint: val_crps judges the sampled distribution, "
                                "val_rmse only the zero-noise point forecast")
    global_shuffle: bool = Field(
        True, description="every epoch, cut the global batches from a fresh permutation of all training "
                          "windows drawn from (seed, epoch): each batch mixes series and eras, 1 and N workers "
                          "train on the same batches, and a resumed run replays them exactly (each worker "
                          "reads the whole split every epoch); false: each worker draws its own shard "
                          "(windows by series, then time) through the shuffle_buffer")
    shuffle_buffer: int = Field(1024, ge=0, description="with global_shuffle off: the local shuffle buffer in "
                                                        "windows; 0 disables")
    seed: int = 0
    deterministic: bool = True
    jit_compile: bool | Literal["auto"] = Field(
        False, description="XLA-compile each worker's forward/backward pass; auto: on GPU workers "
                           "whose layers all allow it (not cuDNN LSTMs), off on CPUs (slower there)")
    mixed_precision: Literal["off", "auto", "float16", "bfloat16"] = Field(
        "off", description="auto: float16 with loss scaling on GPU workers, bfloat16 on CPUs with "
                           "AVX512_BF16 and no AMX (AMX kernels gave NaN losses), else float32")
    unroll: bool | Literal["auto"] = Field(
        "auto", description="unroll the generator LSTMs' time loop; auto: for windows of up to 32 steps "
                            "whose LSTMs cannot use cuDNN (all of them on CPUs)")
    lr_scaling: Literal["none", "linear", "sqrt"] = Field(
        "none", description="scale both learning rates by batch_size / lr_reference_batch (linear) "
                            "or its square root (sqrt)")
    lr_reference_batch: int = Field(128, ge=1, description="the global batch the learning rates are set for")

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` as False: `--set train.mixed_precision=off` means "off".
        return "off" if value is False else value

    def learning_rates(self) -> tuple[float, float]:
        """(generator, discriminator) learning rates after the ``lr_scaling`` rule for ``batch_size``.

        ``sqrt``: lr x (batch_size / lr_reference_batch) ** 0.5, the usual rule for Adam;
        ``linear``: lr x batch_size / lr_reference_batch (Goyal et al., for SGD); ``none``: as set.
        """
        ratio = self.batch_size / self.lr_reference_batch
        factor = {"none": 1.0, "linear": ratio, "sqrt": ratio ** 0.5}[self.lr_scaling]
        return self.g_learning_rate * factor, self.d_learning_rate * factor

    @model_validator(mode="after")
    def _resolve_n_critic(self) -> TrainSection:
        if self.n_critic is None:
            object.__setattr__(self, "n_critic", 5 if self.loss == "wgan-gp" else 1)
        if self.supervised_loss == "energy" and self.samples_per_window < 2:
            raise ValueError("supervised_loss energy needs samples_per_window >= 2 (the spread of the draws "
                             "is half of the score)")
        if (self.val_samples + 1) % 20:
            raise ValueError(f"val_samples + 1 must be a multiple of 20 (19, 39, 59, ...), got {self.val_samples}: "
                             "then the draws' central interval is an exact 90% interval")
        return self


class RunSection(_Section):
    """Where results go and what the cluster provides."""

    name: str | None = None  # None: lstmgan-<UTC time>
    storage_path: str = "runs"
    num_workers: int | tuple[int, int] = Field(
        1, description="Ray Train workers; [min, max] for an elastic run that grows and shrinks with the cluster")
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0.0)
    gpus_per_worker: float = Field(1.0, gt=0.0, description="with use_gpu; below 1 shares a GPU")
    keep_checkpoints: int = Field(2, ge=1)
    max_failures: int = Field(2, ge=-1, description="worker or node failures to recover from; -1: no limit")
    max_preemption_failures: int = Field(
        -1, ge=-1, description="spot preemptions to recover from, counted apart from max_failures; -1: no limit")
    preemption_check_steps: int = Field(
        20, ge=0, description="every this many steps, ask Ray for a preemption notice; 0: never")
    elastic_resize_interval_s: float = Field(
        60.0, ge=0.0, description="elastic run: how often to look for room for more workers")
    resource_timeout_s: float = Field(
        600.0, ge=0.0, description="on an autoscaling cluster, how long to wait for nodes that hold the workers")
    tracking: Literal["none", "mlflow"] = Field(
        "none", description="mlflow: log the config, every epoch's metrics and the best checkpoint to MLflow "
                            "(training: one MLflow run; sweeps: one parent run, a child per trial); needs the "
                            "mlflow extra")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI (http://host:5000, sqlite:///mlflow.db, ...); null: "
                          "MLFLOW_TRACKING_URI, else MLflow's own default")
    experiment: str = Field("lstmgan-ray", min_length=1, description="the MLflow experiment runs are logged to")

    @field_validator("num_workers")
    @classmethod
    def _check_workers(cls, value: int | tuple[int, int]) -> int | tuple[int, int]:
        low, high = (value, value) if isinstance(value, int) else value
        if low < 1 or high < low:
            raise ValueError(f"workers must be at least 1, and [min, max] needs min <= max (got {value!r})")
        return low if low == high else (low, high)

    @property
    def min_workers(self) -> int:
        return self.num_workers if isinstance(self.num_workers, int) else self.num_workers[0]

    @property
    def max_workers(self) -> int:
        return self.num_workers if isinstance(self.num_workers, int) else self.num_workers[1]

    @property
    def elastic(self) -> bool:
        return self.min_workers != self.max_workers

    def workers_text(self) -> str:
        """``2`` or ``1-2``: how many workers, as users write it on the command line."""
        return f"{self.min_workers}-{self.max_workers}" if self.elastic else str(self.min_workers)


class Config(_Section):
    """The whole job: data, model, training and run settings."""

    data: DataSection = DataSection()
    model: ModelSection = ModelSection()
    train: TrainSection = TrainSection()
    run: RunSection = RunSection()

    @model_validator(mode="after")
    def _check_cross(self) -> Config:
        counts = range(self.run.min_workers, self.run.max_workers + 1)
        odd = [n for n in counts if self.train.batch_size % n]
        if odd and not self.run.elastic:
            raise ValueError(
                f"train.batch_size={self.train.batch_size} is not divisible by "
                f"run.num_workers={self.run.num_workers}; the global batch is split evenly")
        if odd:
            raise ValueError(
                f"train.batch_size={self.train.batch_size} is not divisible by {odd[0]} workers of "
                f"run.num_workers={self.run.workers_text()} (an elastic run may have any count in "
                f"between); the global batch is split evenly")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON/YAML-safe dict; what Ray ships to workers and checkpoints store."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Config:
        """Validate a nested dict, turning pydantic's errors into one readable ConfigError."""
        _check_unknown_keys(raw, cls)
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            raise ConfigError(_format_validation_error(err)) from None


def field_names(model: type[BaseModel]) -> list[str]:
    """The keys a section (or the whole config) accepts, in declaration order."""
    return list(model.model_fields)


def did_you_mean(name: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, else the list of known ones."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(choices)})"


def _check_unknown_keys(raw: Any, model: type[BaseModel]) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a mapping of sections, got {type(raw).__name__}")
    problems = []
    for section, body in raw.items():
        if section not in model.model_fields:
            problems.append(f"unknown section {section!r}{did_you_mean(str(section), field_names(model))}")
            continue
        if not isinstance(body, dict):
            problems.append(f"section {section!r} must be a mapping, got {type(body).__name__}")
            continue
        sub = model.model_fields[section].annotation
        for key in body:
            if key not in sub.model_fields:
                problems.append(f"unknown key {section}.{key}{did_you_mean(str(key), field_names(sub))}")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _format_validation_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not isinstance(p, int) or len(e["loc"]) == 1)
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{loc or 'config'}: {msg}{shown}")
    return "invalid config:\n  " + "\n  ".join(lines)
