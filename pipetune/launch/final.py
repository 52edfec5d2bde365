"""The final run of a search: its best params run once more, to completion, outside it.

``pipetune tune`` with a ``final:`` section (``ScriptObjective.run_final``) re-runs the best
trial's params with extra arguments (``--full-data --epochs 50``) as a standalone tracked run
(``pipetune.start_run``), not as a trial of the search: its value is measured another way and
must never become the search's best trial nor an observation of its sampler and pruner. This
module starts that run, named and recorded so that it is found from the search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipetune._attrs import FINAL_ARGS_ATTR, FINAL_RUN_ATTR, experiment_of
from pipetune.environment import mask_secrets
from pipetune.errors import InvalidArgumentError
from pipetune.launch.specs import argv_tuple
from pipetune.tracking.runs import Run, start_run

if TYPE_CHECKING:
    from pipetune.study import Study

__all__ = ["start_final_run"]


def start_final_run(study: Study, params: Mapping[str, Any], extra_args: Sequence[str],
                    best_trial: int | None) -> Run:
    """Starts the final run of ``study`` with ``params``: in the study's experiment, named
    ``<study>-final`` (``-final-2``, ... when taken), with the study's directions, listed under
    it; the study's system attr ``final_run`` names it. The run records the params, the user
    attrs ``study`` and ``best_trial`` (when given) and the system attr ``final_args`` (secrets
    masked)."""
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise InvalidArgumentError(
            f"run_final takes a dict of param name -> value. Got {params!r}.")
    if best_trial is not None and (isinstance(best_trial, bool)
                                   or not isinstance(best_trial, int)):
        raise InvalidArgumentError(
            f"best_trial is the number of the trial whose params these are. Got "
            f"{best_trial!r}.")
    extra = argv_tuple("extra_args", extra_args)
    storage = study.run_interface.storage
    # ``<study>-final``, else the first free ``<study>-final-<n>`` (start_run's naming).
    run = start_run(experiment=experiment_of(study.system_attrs),
                    name=f"{study.study_name}-final", storage=storage,
                    directions=study.directions, params=dict(params), parent=study.study_name)
    storage.set_study_attr(study.run_interface.study_id, FINAL_RUN_ATTR, run.name, system=True)
    run.trial.set_system_attr(FINAL_ARGS_ATTR, mask_secrets(extra))
    run.set_user_attr("study", study.study_name)
    if best_trial is not None:
        run.set_user_attr("best_trial", best_trial)
    return run
