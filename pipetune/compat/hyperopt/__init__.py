"""Hyperopt's API on pipetune: ``fmin``, ``hp``, ``Trials``, ``space_eval``, the algorithms.

Code written for Hyperopt runs by changing one import::

    from pipetune.compat.hyperopt import fmin, tpe, rand, hp, Trials, STATUS_OK, space_eval

The package mirrors Hyperopt's public modules: ``hp``, ``pyll`` (``scope``, ``as_apply``),
``pyll.stochastic`` (``sample``), ``fmin`` (``generate_trials_to_calculate``), ``early_stop``
(``no_progress_loss``), ``base``, ``exceptions`` and the algorithms ``tpe``, ``rand``,
``anneal``, ``atpe``, ``mix``, whose ``suggest`` each name a pipetune sampler (see
``_algorithms``). Every ``fmin`` call drives a pipetune study (direction minimize) through
ask/tell, seeded from ``rstate``. A ``hp.choice`` is a categorical param over its branch
indices, named by its label, and the params inside a branch are suggested only when that branch
is taken, so the study never holds an inactive param. ``Trials`` shows the study in Hyperopt's
shape; ``Trials(storage=url, study_name=...)`` keeps it in a pipetune storage, where several
processes share it (Hyperopt's ``MongoTrials``) and ``pipetune.load_study`` and the dashboard
see it too.

Where pipetune differs from Hyperopt, on purpose (docs/migrating.md lists them all):

- ``hp.normal(label, mu, sigma)`` is suggested over ``mu +- 4 sigma`` (``hp.lognormal`` a
  log-scaled float over ``exp(mu +- 4 sigma)``, the ``q`` kinds the same on their grid):
  pipetune domains are bounded, and that interval holds 99.99% of the normal prior.
  ``pyll.stochastic.sample`` draws from the unbounded priors.
- ``hp.qloguniform`` / ``hp.qlognormal`` are suggested as log-scaled floats and rounded to a
  multiple of ``q`` afterwards (a pipetune domain is log-scaled or on a grid, not both): the
  study records the draw; the objective, ``Trials.vals`` and the argmin see the rounded value.
- A trial whose objective raised stays in ``Trials`` (state ``JOB_STATE_ERROR``, status
  ``fail``) and in the study as a FAIL trial, with the traceback.
- Trials run one at a time in this process; ``verbose`` and ``max_queue_len`` are accepted
  and ignored; ``show_progressbar`` is True or False (a bar of the trials and the best loss).
"""

from __future__ import annotations

import functools

from pipetune.compat.hyperopt import (
    anneal,
    atpe,
    base,
    early_stop,
    exceptions,
    hp,
    mix,
    pyll,
    rand,
    tpe,
)
from pipetune.compat.hyperopt._space import (
    NORMAL_SIGMAS,
    DuplicateLabelError,
    InvalidAnnotatedParameterError,
)
from pipetune.compat.hyperopt._trials import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_STATES,
    STATUS_FAIL,
    STATUS_NEW,
    STATUS_OK,
    STATUS_RUNNING,
    STATUS_STRINGS,
    STATUS_SUSPENDED,
    AllTrialsFailedError,
)
from pipetune.compat.hyperopt.exceptions import AllTrialsFailed, DuplicateLabel
from pipetune.compat.hyperopt.fmin import (
    Trials,
    fmin,
    generate_trials_to_calculate,
    space_eval,
)
from pipetune.compat.hyperopt.pyll import scope
from pipetune.compat.hyperopt.spark import SparkTrials

# Hyperopt's functools.partial work-alike (for partial(tpe.suggest, ...)).
partial = functools.partial

__all__ = [
    "AllTrialsFailed",
    "AllTrialsFailedError",
    "DuplicateLabel",
    "DuplicateLabelError",
    "InvalidAnnotatedParameterError",
    "JOB_STATES",
    "JOB_STATE_CANCEL",
    "JOB_STATE_DONE",
    "JOB_STATE_ERROR",
    "JOB_STATE_NEW",
    "JOB_STATE_RUNNING",
    "NORMAL_SIGMAS",
    "STATUS_FAIL",
    "STATUS_NEW",
    "STATUS_OK",
    "STATUS_RUNNING",
    "STATUS_STRINGS",
    "STATUS_SUSPENDED",
    "SparkTrials",
    "Trials",
    "anneal",
    "atpe",
    "base",
    "early_stop",
    "exceptions",
    "fmin",
    "generate_trials_to_calculate",
    "hp",
    "mix",
    "partial",
    "pyll",
    "rand",
    "scope",
    "space_eval",
    "tpe",
]
