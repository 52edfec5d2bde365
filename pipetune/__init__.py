"""pipetune: tune machine-learning pipelines.

The public vocabulary matches Optuna's, so code written for it moves over by changing the
import: ``create_study``, ``Trial.suggest_*``, ``study.optimize``, ``trials_dataframe``.
"""

from pipetune import pruners, samplers, stopping
from pipetune.datatypes import FrozenTrial, StudyDirection, StudySummary, TrialState
from pipetune.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from pipetune.errors import (
    DuplicateStudyError,
    InvalidArgumentError,
    InvalidDistributionError,
    ParamConflictError,
    PipetuneError,
    StorageError,
    StudyNotFoundError,
    TrialPruned,
)
from pipetune.storage import InMemoryStorage, get_storage
from pipetune.study import (
    Study,
    create_study,
    delete_study,
    get_all_study_names,
    list_studies,
    load_study,
)
from pipetune.trial import Trial

__version__ = "0.1.0"

__all__ = [
    "CategoricalDistribution",
    "DuplicateStudyError",
    "FloatDistribution",
    "FrozenTrial",
    "InMemoryStorage",
    "IntDistribution",
    "InvalidArgumentError",
    "InvalidDistributionError",
    "ParamConflictError",
    "PipetuneError",
    "StorageError",
    "Study",
    "StudyDirection",
    "StudyNotFoundError",
    "StudySummary",
    "Trial",
    "TrialPruned",
    "TrialState",
    "create_study",
    "delete_study",
    "get_all_study_names",
    "get_storage",
    "list_studies",
    "load_study",
    "pruners",
    "samplers",
    "stopping",
]
