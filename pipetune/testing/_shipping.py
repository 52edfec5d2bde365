"""The trip a sampler or pruner makes when the Ray backend ships it to a task in another
process, shared by the sampler and pruner contracts."""

from __future__ import annotations

import pickle
from typing import Any

from pipetune.execution.ray_backend import shipping_bytes

__all__ = ["shipped", "shipping_bytes"]


def shipped(obj: Any) -> Any:
    """A copy of ``obj`` as it arrives in a Ray task (``ray_backend.shipping_bytes``)."""
    return pickle.loads(shipping_bytes(obj))
