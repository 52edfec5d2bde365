"""The pruner interface: whether a running trial should stop early.

``prune`` is called by ``Trial.should_prune`` after the objective reported intermediate values;
it sees a read-only ``StudyView`` (``pipetune.view``) and the trial as stored, and must be
cheap and side-effect free.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from pipetune.datatypes import FrozenTrial

if TYPE_CHECKING:
    from pipetune.view import StudyView


class BasePruner(abc.ABC):
    """Decides from intermediate values whether a trial stops."""

    @abc.abstractmethod
    def prune(self, view: StudyView, trial: FrozenTrial) -> bool:
        """True when ``trial`` should stop now."""

    @property
    def needs_history(self) -> bool:
        """Whether ``prune`` reads other trials; False spares a history refresh per call."""
        return True


class NopPruner(BasePruner):
    """Never prunes."""

    def prune(self, view: StudyView, trial: FrozenTrial) -> bool:
        return False

    @property
    def needs_history(self) -> bool:
        return False
