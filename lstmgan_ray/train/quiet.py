"""A quiet Ray: the settings ``init_ray`` starts or joins Ray with, and what each Ray process
of the job quiets in itself.

Unless ``--verbose``: TensorFlow's C++ logs and Ray Data's INFO lines are off in every process
the job starts (``runtime_env`` env vars, local or on a cluster the job joins), Ray Train's INFO
lines are off (``quiet_train_logging``), and the lines Ray forwards from its processes go through
``console.is_noise`` first. Warnings, errors and tracebacks still show.
"""

from __future__ import annotations

import logging

from lstmgan_ray.console import is_noise, is_verbose, process_env
from lstmgan_ray.storage.lock import submitted_job_config

QUIET_LOGGERS = ("tensorflow", "ray.data", "ray.train", "ray.tune")


def runtime_env_vars(verbose: bool) -> dict[str, str]:
    """``process_env`` for every Ray process, less what a submitted job's runtime env already sets."""
    # A submitted job's runtime env, which Ray refuses to merge with a ray.init runtime env that sets
    # any of the same env vars.
    runtime_env = submitted_job_config().get("runtime_env")
    job_env = (runtime_env.get("env_vars") if isinstance(runtime_env, dict) else None) or {}
    return {k: v for k, v in process_env(verbose).items() if k not in job_env}


def train_log_level() -> str:
    """Ray Train's console log level (``RunConfig.logging_config``): its per-report INFO lines off."""
    return "INFO" if is_verbose() else "WARNING"


def quiet_python_logging() -> None:
    """In a process of a quiet job: TensorFlow's and Ray libraries' Python INFO lines off, and Ray Data's
    warning that its progress bars are off (they are, on purpose: the job shows its own progress)."""
    if not is_verbose():
        # Ray Train's worker-side INFO lines ("Reporting training result ...") come from loggers named
        # by file path, under the root logger it sets to INFO.
        logging.getLogger().setLevel(logging.WARNING)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        progress = logging.getLogger("ray.data._internal.progress")
        if not any(isinstance(f, NoiseFilter) for f in progress.filters):
            progress.addFilter(NoiseFilter())


class NoiseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not is_noise(record.getMessage())


def filter_forwarded_logs() -> bool:
    """Drop ``console.is_noise`` lines from what Ray forwards from its processes to this console.

    Ray 2.60 has no public hook for it: the forwarding handler of its private dispatcher is
    wrapped; a Ray without one keeps forwarding everything (False).
    """
    try:
        from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher
    except ImportError:
        return False
    with dispatcher._lock:
        handlers = list(dispatcher.handlers)
        if not any(name == "ray_print_logs" for name, _ in handlers):
            return False
        dispatcher.handlers = [(name, _filtered(handle) if name == "ray_print_logs" else handle)
                               for name, handle in handlers]
    return True


def _filtered(handle):
    if getattr(handle, "lstmgan_filtered", False):
        return handle

    def forward(data):
        lines = [line for line in data.get("lines", []) if not is_noise(line)]
        if lines:
            handle({**data, "lines": lines})

    forward.lstmgan_filtered = True
    return forward
