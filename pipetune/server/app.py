"""The FastAPI application behind ``pipetune server``: one route per ``BaseStorage`` method.

Paths are versioned (``/api/v1/...``) and the OpenAPI spec is served at ``/openapi.json``. The
JSON forms of trials and studies are those of ``pipetune.storage.remote``, the client.

Authorization: with no tokens configured every request is allowed (fine on 127.0.0.1, the
default bind). With tokens, every ``/api/v1`` request needs ``Authorization: Bearer <token>``:
any configured token may read, only a ``write`` token may change anything (claiming a trial
included). A missing or unknown token gets 401, a read-only token asking to write gets 403.
``/api/v1/health`` and the OpenAPI spec stay open so load balancers and tools can probe, and
so do the web dashboard's page and scripts at ``/`` (they hold no data; the JSON they read,
``pipetune.server.dashboard``, needs a token like any other read).
"""

from __future__ import annotations

import hmac
import json
import socket
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any

from pipetune._imports import require
from pipetune.datatypes import StudyDirection, TrialState
from pipetune.distributions import distribution_from_json
from pipetune.errors import ConfigError, InvalidArgumentError, PipetuneError
from pipetune.server.errors import FORBIDDEN, UNAUTHENTICATED, status_of
from pipetune.server.tracking_routes import add_tracking_routes
from pipetune.storage.base import BaseStorage
from pipetune.storage.remote import (
    API,
    decode_float,
    summary_to_json,
    trial_to_json,
)

fastapi = require("fastapi", "server")
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from pipetune.server.dashboard import dashboard_router

__all__ = ["BackgroundServer", "create_app", "read_token_file", "serve"]

ROLES = ("read", "write")

_bearer = HTTPBearer(auto_error=False)
_Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class _JSON(JSONResponse):
    """JSON that keeps NaN / inf inside attributes (Python's json reads them back)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def _error(status: int, kind: str, message: str, **headers: str) -> _JSON:
    return _JSON({"error": kind, "message": message}, status_code=status, headers=headers or None)


def read_token_file(path: str | Path) -> dict[str, str]:
    """Reads a token file: one ``write <token>`` or ``read <token>`` per line; blank lines and
    lines starting with ``#`` are skipped. Returns token -> role."""
    tokens: dict[str, str] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise ConfigError(f"Cannot read the token file {str(path)!r}: {error.strerror}.") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ROLES:
            raise ConfigError(
                f"Line {number} of the token file {str(path)!r} must be 'write <token>' or "
                f"'read <token>'. Got {line!r}.")
        tokens[parts[1]] = parts[0]
    return tokens


# -- request bodies (they also document the API in /openapi.json) -------------------------------


class StudyIn(BaseModel):
    study_name: str
    directions: list[str]


class ValueIn(BaseModel):
    value: Any = None


class TrialIn(BaseModel):
    state: str = "WAITING"
    system_attrs: dict[str, Any] = {}


class ClaimIn(BaseModel):
    worker: str | None = None
    max_trials: int | None = None
    max_parallel: int | None = None


class ParamIn(BaseModel):
    internal_value: float | str
    distribution: dict[str, Any]


class ParamsIn(BaseModel):
    params: dict[str, ParamIn]


class FinishIn(BaseModel):
    state: str
    values: list[float | str] | None = None


class StepValueIn(BaseModel):
    value: float | str | list[float | str]


class KeyIn(BaseModel):
    trial_id: int


class StaleIn(BaseModel):
    grace_period: float
    retry_failed: int = 0


def _parse_states(states: str | None) -> Collection[TrialState] | None:
    if states is None:
        return None
    return [TrialState.parse(s) for s in states.split(",") if s.strip()]


def _parse_ids(ids: str) -> list[int]:
    try:
        return [int(i) for i in ids.split(",") if i.strip()]
    except ValueError:
        raise InvalidArgumentError(
            f"'also' must be a comma-separated list of trial ids. Got {ids!r}.") from None


def create_app(storage: BaseStorage, tokens: Mapping[str, str] | None = None) -> FastAPI:
    """The HTTP API over ``storage``. ``tokens`` maps bearer token -> ``"read"`` or ``"write"``
    (see the module docstring); none means an open server. The storage is ``app.state.storage``
    and may be swapped while serving (the tests give each test a fresh one)."""
    tokens = dict(tokens or {})
    for role in tokens.values():
        if role not in ROLES:
            raise InvalidArgumentError(
                f"The role of a server token must be 'read' or 'write'. Got {role!r}.")
    app = FastAPI(title="pipetune storage API", version="1",
                  default_response_class=_JSON)
    app.state.storage = storage

    class _Denied(Exception):
        def __init__(self, status: int, message: str) -> None:
            super().__init__(message)
            self.status = status

    def _role(credentials: HTTPAuthorizationCredentials | None) -> str | None:
        if not tokens:
            return "write"
        if credentials is None:
            raise _Denied(UNAUTHENTICATED, "This pipetune server needs a bearer token: send "
                          "'Authorization: Bearer <token>' (PIPETUNE_TOKEN for the client).")
        given = credentials.credentials.encode()
        # compare_digest over every token: the answer's timing tells nothing about the tokens
        role = None
        for token, token_role in tokens.items():
            if hmac.compare_digest(given, token.encode()):
                role = token_role
        if role is None:
            raise _Denied(UNAUTHENTICATED, "Unknown bearer token: use one listed in the "
                          "server's --token-file.")
        return role

    def reader(credentials: _Credentials) -> None:
        _role(credentials)

    def writer(credentials: _Credentials) -> None:
        if _role(credentials) != "write":
            raise _Denied(FORBIDDEN, "This token may only read: writes need a 'write' token.")

    @app.exception_handler(_Denied)
    def _denied(request: Request, error: _Denied) -> _JSON:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == UNAUTHENTICATED else {}
        return _error(error.status, "AuthorizationError", str(error), **headers)

    @app.exception_handler(PipetuneError)
    def _pipetune_error(request: Request, error: PipetuneError) -> _JSON:
        return _error(status_of(error), type(error).__name__, str(error))

    @app.exception_handler(NotImplementedError)
    def _not_implemented(request: Request, error: NotImplementedError) -> _JSON:
        return _error(status_of(error), "NotImplementedError", str(error))

    def st() -> BaseStorage:
        return app.state.storage

    # Routes return plain JSON-ready data: response_model=None skips FastAPI's re-validation
    # (which would also turn a NaN inside an attribute into null).
    read: dict[str, Any] = {"dependencies": [Depends(reader)], "response_model": None}
    write: dict[str, Any] = {"dependencies": [Depends(writer)], "response_model": None}

    @app.get(API + "/health", response_model=None)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # -- studies -------------------------------------------------------------------------------

    @app.post(API + "/studies", **write, status_code=201)
    def create_study(body: StudyIn) -> dict[str, int]:
        directions = [StudyDirection.parse(d.lower()) for d in body.directions]
        return {"study_id": st().create_study(body.study_name, directions)}

    @app.get(API + "/studies", **read)
    def list_studies() -> list[dict[str, Any]]:
        return [summary_to_json(s) for s in st().list_studies()]

    @app.get(API + "/studies/by-name", **read)
    def get_study_id(name: str) -> dict[str, int]:
        return {"study_id": st().get_study_id(name)}

    @app.get(API + "/studies/{study_id}", **read)
    def get_study(study_id: int) -> dict[str, Any]:
        return {"study_id": study_id, "study_name": st().get_study_name(study_id),
                "directions": [d.name for d in st().get_study_directions(study_id)]}

    @app.delete(API + "/studies/{study_id}", **write)
    def delete_study(study_id: int) -> dict[str, bool]:
        st().delete_study(study_id)
        return {"deleted": True}

    @app.put(API + "/studies/{study_id}/attrs/{key:path}", **write)
    def set_study_attr(study_id: int, key: str, body: ValueIn,
                       system: bool = False) -> dict[str, bool]:
        st().set_study_attr(study_id, key, body.value, system=system)
        return {"stored": True}

    @app.get(API + "/studies/{study_id}/attrs", **read)
    def get_study_attrs(study_id: int, system: bool = False) -> dict[str, Any]:
        return st().get_study_attrs(study_id, system=system)

    @app.post(API + "/studies/{study_id}/keys/{key:path}", **write)
    def claim_key(study_id: int, key: str, body: KeyIn) -> dict[str, bool]:
        return {"claimed": st().claim_key(study_id, key, body.trial_id)}

    # -- trials of a study ---------------------------------------------------------------------

    @app.post(API + "/studies/{study_id}/trials", **write, status_code=201)
    def create_trial(study_id: int, body: TrialIn) -> dict[str, Any]:
        trial = st().create_trial(study_id, state=TrialState.parse(body.state),
                                  system_attrs=body.system_attrs)
        return trial_to_json(trial)

    @app.post(API + "/studies/{study_id}/trials/claim", **write)
    def claim_trial(study_id: int, body: ClaimIn) -> dict[str, Any] | None:
        trial = st().claim_trial(study_id, body.worker, max_trials=body.max_trials,
                                 max_parallel=body.max_parallel)
        return None if trial is None else trial_to_json(trial)

    @app.post(API + "/studies/{study_id}/trials/fail-stale", **write)
    def fail_stale_trials(study_id: int, body: StaleIn) -> list[dict[str, Any]]:
        return [trial_to_json(t) for t in st().fail_stale_trials(
            study_id, body.grace_period, retry_failed=body.retry_failed)]

    @app.get(API + "/studies/{study_id}/trials", **read)
    def get_trials(study_id: int, states: str | None = None, since: int | None = None,
                   also: str = "") -> list[dict[str, Any]]:
        """All trials (optionally of some ``states``), or with ``since`` the incremental read:
        trials with id > ``since`` plus the comma-separated ids in ``also``."""
        if since is not None:
            trials = st().get_trials_since(study_id, since, _parse_ids(also))
        else:
            trials = st().get_trials(study_id, _parse_states(states))
        return [trial_to_json(t) for t in trials]

    @app.get(API + "/studies/{study_id}/trials/count", **read)
    def count_trials(study_id: int, states: str | None = None) -> dict[str, int]:
        return {"count": st().count_trials(study_id, _parse_states(states))}

    @app.get(API + "/studies/{study_id}/trials/by-number/{number}", **read)
    def get_trial_id(study_id: int, number: int) -> dict[str, int]:
        return {"trial_id": st().get_trial_id(study_id, number)}

    # -- one trial -----------------------------------------------------------------------------

    @app.get(API + "/trials/{trial_id}", **read)
    def get_trial(trial_id: int) -> dict[str, Any]:
        return trial_to_json(st().get_trial(trial_id))

    @app.post(API + "/trials/{trial_id}/params", **write)
    def set_trial_params(trial_id: int, body: ParamsIn) -> dict[str, bool]:
        st().set_trial_params(trial_id, {
            name: (decode_float(param.internal_value),
                   distribution_from_json(json.dumps(param.distribution)))
            for name, param in body.params.items()})
        return {"stored": True}

    @app.post(API + "/trials/{trial_id}/finish", **write)
    def finish_trial(trial_id: int, body: FinishIn) -> dict[str, bool]:
        values = None if body.values is None else [decode_float(v) for v in body.values]
        return {"changed": st().finish_trial(trial_id, TrialState.parse(body.state), values)}

    @app.put(API + "/trials/{trial_id}/intermediate/{step}", **write)
    def set_intermediate_value(trial_id: int, step: int, body: StepValueIn) -> dict[str, bool]:
        value = body.value
        decoded = (tuple(decode_float(v) for v in value) if isinstance(value, list)
                   else decode_float(value))
        return {"stored": st().set_trial_intermediate_value(trial_id, step, decoded)}

    @app.put(API + "/trials/{trial_id}/attrs/{key:path}", **write)
    def set_trial_attr(trial_id: int, key: str, body: ValueIn,
                       system: bool = False) -> dict[str, bool]:
        st().set_trial_attr(trial_id, key, body.value, system=system)
        return {"stored": True}

    @app.post(API + "/trials/{trial_id}/heartbeat", **write)
    def heartbeat(trial_id: int) -> dict[str, bool]:
        st().heartbeat(trial_id)
        return {"stored": True}

    add_tracking_routes(app, st, read, write)

    app.include_router(dashboard_router(st, reader))  # the web dashboard at /
    return app


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket for uvicorn. Its accepted connections inherit TCP_NODELAY, without
    which a response's headers and body, written apart, wait out the client's delayed ACK
    (about 40 ms per request on a keep-alive connection)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InvalidArgumentError(
            f"Cannot listen on {host}:{port} ({error.strerror}): choose another --port or "
            "--host.") from None
    return sock


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serves ``app`` in the foreground until SIGINT / SIGTERM (``pipetune server``)."""
    uvicorn = require("uvicorn", "server")
    sock = _bind(host, port)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    finally:
        sock.close()


class BackgroundServer:
    """Serves an app with uvicorn on a thread of this process, on ``host`` and ``port`` (0 picks
    a free port); ``url`` is where it listens. A context manager: it stops on exit."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        uvicorn = require("uvicorn", "server")
        self.app = app
        self._socket = _bind(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = (f"http://[{self.host}]:{self.port}" if ":" in self.host
                    else f"http://{self.host}:{self.port}")
        config = uvicorn.Config(app, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]},
                                        name="pipetune-server", daemon=True)

    def start(self) -> BackgroundServer:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"The pipetune server on {self.url} failed to start.")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
