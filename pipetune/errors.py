"""The one exception hierarchy of pipetune.

Every error a user can cause is one of these, named for what the caller does next::

    PipetuneError
    ├── InvalidDistributionError (ValueError)    fix the search space
    ├── ParamConflictError (ValueError)          a name was suggested twice with different domains
    ├── InvalidArgumentError (ValueError)        fix the argument named in the message
    │   └── ArgumentTypeError (TypeError)        pass the argument as the type named
    ├── ConfigError (ValueError)                 fix the YAML file at the line named
    ├── StudyNotFoundError (KeyError)            create the study, or check its name / storage
    ├── DuplicateStudyError (ValueError)         load it (load_if_exists=True) or pick another name
    ├── TrialNotFoundError (KeyError)            check the trial number
    ├── ArtifactNotFoundError (KeyError)         check the artifact name (list_artifacts)
    ├── FilterSyntaxError (ValueError)           fix the search filter at the column shown
    ├── UpdateFinishedTrialError (RuntimeError)  a finished trial never changes
    ├── InvalidCallError (RuntimeError)          call it where it can act (see the message)
    ├── StorageError (RuntimeError)              the storage could not carry out an operation
    │   ├── StorageURLError (ValueError)         fix the storage URL
    │   └── StorageUnavailableError              unreachable for now: retry later
    ├── ObjectiveError                           the objective returned something unusable
    ├── SearchSpaceExhaustedError                the sampler has no candidate left (full grid)
    ├── TooManyFailuresError                     the objective keeps failing: fix it
    └── MissingDependencyError (ImportError)     pip install the named extra

``TrialPruned`` is not an error: the objective raises it to end a trial early. The Hyperopt
layer (``pipetune.compat.hyperopt``, whose ``exceptions`` module gives them Hyperopt's names)
adds leaves: ``AllTrialsFailedError``, ``InvalidResultStatusError`` and ``InvalidLossError``
(ObjectiveErrors), ``DuplicateLabelError`` (a ParamConflictError), and
``InvalidAnnotatedParameterError`` and ``InvalidTrialError`` (InvalidArgumentErrors).
"""

from __future__ import annotations


class PipetuneError(Exception):
    """Base of every error pipetune raises on purpose."""


class InvalidDistributionError(PipetuneError, ValueError):
    """A search-space domain is malformed (low > high, empty choices, ...)."""


class ParamConflictError(PipetuneError, ValueError):
    """A parameter name was suggested again in one trial with a different domain."""


class InvalidArgumentError(PipetuneError, ValueError):
    """An argument of a public function is out of its domain."""


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument has a type the function cannot use (a string where a number goes, a list
    where a dict goes); also a TypeError, as Python has it."""


class ConfigError(PipetuneError, ValueError):
    """A study's YAML file (``pipetune tune``) is malformed; the message names its line."""


class StudyNotFoundError(PipetuneError, KeyError):
    """No study of that name (or id) exists in the storage."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0]) if self.args else ""


class DuplicateStudyError(PipetuneError, ValueError):
    """A study of that name already exists in the storage."""


class TrialNotFoundError(PipetuneError, KeyError):
    """No trial of that id or number exists in the study."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ArtifactNotFoundError(PipetuneError, KeyError):
    """No artifact of that name is stored for the trial."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class FilterSyntaxError(PipetuneError, ValueError):
    """A trial search filter (or order_by) is malformed; ``column`` (1-based) points at the
    mistake, and the message ends with the filter and a caret under that column."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


class UpdateFinishedTrialError(PipetuneError, RuntimeError):
    """A write was attempted on a trial that is already COMPLETE, PRUNED or FAIL."""


class InvalidCallError(PipetuneError, RuntimeError):
    """A call made where it cannot act: ``study.stop()`` with no ``optimize`` running,
    ``study.optimize`` from inside an ``optimize`` of the same study, or a question with one
    answer per objective asked for one (``study.direction``, ``study.best_trial``,
    ``trial.value`` of a multi-objective study)."""


class StorageError(PipetuneError, RuntimeError):
    """The storage could not carry out an operation; nothing was half-written."""


class StorageURLError(StorageError, ValueError):
    """A storage URL names an unknown scheme or is malformed."""


class StorageUnavailableError(StorageError):
    """The storage cannot be reached right now: a database restarting, a network hiccup, a
    server away. Retrying later may succeed, and workers do (``retry_storage`` in
    ``pipetune.execution.loop``); other storage errors are not worth retrying."""


class ObjectiveError(PipetuneError):
    """An objective returned a value that cannot be a trial's result (NaN, a string, ...), or
    a launched script failed, timed out or printed no metric (the message quotes its log)."""


class SearchSpaceExhaustedError(PipetuneError):
    """The sampler has no candidate left to propose: every grid point is taken."""


class TooManyFailuresError(PipetuneError):
    """Trials failed in a row past the limit a study was given (``FailedInARow``)."""


class MissingDependencyError(PipetuneError, ImportError):
    """An optional dependency is needed for the feature called."""


class TrialPruned(Exception):
    """Raised by an objective to stop its trial early; the trial ends PRUNED.

    Deliberately not a ``PipetuneError``: it is control flow, not a failure.
    """
