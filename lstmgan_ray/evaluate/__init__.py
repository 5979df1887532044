"""Inference from a checkpoint: batch generation of forecasts and synthetic paths through a Ray Data
actor pool (``generate``), and the honest evaluation of a checkpoint (``run``): its forecasts against
persistence and a supervised-only twin (``baselines``, ``forecast_metrics``), its sampled forecasts
against the classical generative baselines on the same windows (``distribution``, ``classical``:
bootstraps, normals, GARCH(1,1)-t fitted on the training returns of ``history``), its synthetic
paths against the real ones and the baselines' scenarios (``synthetic_metrics``, ``scenarios``),
gathered into numbers (``scoring``), figures (``figures``) and a Markdown report (``report``). The
options of both jobs (``options``) are validated before any of that is imported. It reads
checkpoints and windows; it never trains the GAN or writes a checkpoint.

Exports are loaded on first use: most of these modules import TensorFlow and Ray, which a command
line validating its flags should not pay for.
"""

from lstmgan_ray._lazy import lazy_exports

_EXPORTS = {
    "options": ["ActorOptions", "EvaluateOptions", "GenerateOptions", "MODES", "SPLIT_CHOICES"],
    "generate": ["GeneratorActor", "OUTPUT_COLUMNS", "generate_dataset", "rollout", "run_generate",
                 "to_original_units"],
    "baselines": ["BASELINE_FILE", "load_supervised_baseline", "save_supervised_baseline",
                  "train_supervised_baseline"],
    "run": ["METRICS_FILE", "run_evaluate"],
    "report": ["write_report"],
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
