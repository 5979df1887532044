"""The errors a user can fix by changing input: each job turns them into one message and exit code 2.

They live apart from the code that raises them so that the command line can catch them
without importing TensorFlow or Ray.
"""

from __future__ import annotations


class UserError(ValueError):
    """A problem with the job's input (config, data, checkpoint, cluster request); the message
    names every culprit."""


class ConfigError(UserError):
    """A config, sweep-file or command-line problem; the message names every offending key."""


class DataError(UserError):
    """Problems with the dataset; the message lists every one, naming file, column and series."""


class CheckpointError(UserError):
    """A path that is not a usable checkpoint; the message says which file or field."""


class DependencyError(UserError, ImportError):
    """A package the job needs is missing or unusable; the message names it and the command that
    installs it. Still an ``ImportError``, for code that probes optional packages."""


class RunInUse(UserError):
    """Another live job holds the run's or sweep's lease; the message names it and when its lease
    would count as abandoned."""
