"""The errors of ``pipetune.artifacts`` under Optuna's names."""

from __future__ import annotations

from pipetune.errors import ArtifactNotFoundError

# A store has no artifact of the id asked for.
ArtifactNotFound = ArtifactNotFoundError

__all__ = ["ArtifactNotFound"]
