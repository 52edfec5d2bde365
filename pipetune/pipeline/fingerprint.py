"""Fingerprints: short stable hashes of a stage's code, of data, and of a stage-output key.

A stage output is reused only when everything that produced it is the same: the stage's name,
its code, its params and the key of its input (itself such a hash, so a key pins the whole
chain of upstream stages). Code is fingerprinted from its source text, so editing a stage (even
a comment) invalidates what it produced; a function without source (built at run time) falls
back to its bytecode and constants. Functions the stage calls are not followed: after editing
one, bump the stage's ``version`` (or ``pipetune cache clear --stage NAME``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import pickle
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

_DIGEST_CHARS = 32  # 128 bits: collisions are out of reach for any realistic cache


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:_DIGEST_CHARS]


def code_fingerprint(func: Callable[..., Any]) -> str:
    """A hash of ``func``'s source text (its bytecode when the source cannot be read)."""
    try:
        text = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        text = repr(func) if code is None else repr((code.co_code, code.co_consts, code.co_names))
    return _digest(text.encode())


def data_fingerprint(value: Any) -> str:
    """A hash of ``value``'s content: the raw bytes of a numpy array, else its pickle."""
    if hasattr(value, "__array_interface__") and hasattr(value, "tobytes"):
        header = repr((value.dtype.str, value.shape)).encode()
        return _digest(header + value.tobytes())
    return _digest(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def stage_key(stage: str, code: str, params: Mapping[str, Any], upstream: str | None) -> str:
    """The cache key of one stage output: its stage name, code fingerprint, params (order does
    not matter) and the key of its input (None for a first stage without input)."""
    canonical = json.dumps([stage, code, dict(params), upstream], sort_keys=True, default=repr)
    return _digest(canonical.encode())
