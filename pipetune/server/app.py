"""The FastAPI application behind ``pipetune server``: one route per ``BaseStorage`` method.

Paths are versioned (``/api/v1/...``) and the OpenAPI spec is served at ``/openapi.json``. The
JSON forms of trials and studies are those of ``pipetune.storage.remote``, the client.

Every request first passes the door (``_Door``), before any route runs and so before a byte of
its body is read:

- Host: the ``Host`` header must name this server (``allowed_hosts``; loopback names by
  default), so that a web page whose domain was re-pointed at this address (DNS rebinding)
  cannot talk to it.
- Token: with tokens, every request but those for ``/api/v1/health``, the OpenAPI spec and the
  dashboard's page and scripts (they hold no data) needs ``Authorization: Bearer <token>``.
  Any configured token may read (GET); only a ``write`` token may do anything else (claiming a
  trial included). A missing or unknown token gets 401, a read token asking to write 403; the
  comparison takes the same time whatever the token. With no tokens everything is open, which
  is fine on 127.0.0.1 only (``pipetune server`` refuses another address without
  ``--insecure``).
- Size: a body above ``max_json_bytes`` (``max_artifact_bytes`` for an artifact upload) gets
  413, from its Content-Length before it is read, or as soon as the bytes read pass the cap.
  Artifact uploads are streamed to a temporary file, never held in memory.

A malformed request gets 400 with a message naming the parameter, like every other mistake
(``pipetune.server.errors`` maps the error types to statuses). The system attr ``log_file``
cannot be given to a new trial: the launcher records it while the trial runs.
"""

from __future__ import annotations

import hmac
import json
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from pipetune._attrs import LOG_FILE_ATTR
from pipetune._imports import require
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import distribution_from_json
from pipetune.errors import ConfigError, InvalidArgumentError, PipetuneError
from pipetune.server.errors import FORBIDDEN, UNAUTHENTICATED, status_of
from pipetune.server.tracking_routes import ARTIFACT_UPLOAD, add_tracking_routes
from pipetune.storage.base import BaseStorage
from pipetune.storage.remote import (
    API,
    decode_float,
    summary_to_json,
    trial_from_json,
    trial_to_json,
)

fastapi = require("fastapi", "server")
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from pipetune.server.dashboard import dashboard_router

__all__ = ["LOOPBACK_HOSTS", "MAX_ARTIFACT_BYTES", "MAX_JSON_BYTES", "BackgroundServer",
           "check_tls_files", "create_app", "read_token_file", "serve"]

ROLES = ("read", "write")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_JSON_BYTES = 8 << 20  # a JSON body (a batch of 10,000 metric points is under 1 MB)
MAX_ARTIFACT_BYTES = 1 << 30  # an artifact upload (pipetune server --max-artifact-mb)
# Served to anyone: they hold no data. Everything else needs a token when there are tokens.
_OPEN_PATHS = frozenset({"/", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                         API + "/health"})
_OPEN_PREFIX = "/static/"
# System attrs a client may not give a new trial (the attack once was a log_file naming
# /etc/passwd; nothing reads that path any more, and no trial is created with one).
_RESERVED_AT_CREATION = (LOG_FILE_ATTR,)


def _refuse_reserved(system_attrs: Mapping[str, Any]) -> None:
    """Refuses a new trial whose ``system_attrs`` name one the engine records itself."""
    reserved = sorted(set(system_attrs) & set(_RESERVED_AT_CREATION))
    if reserved:
        raise InvalidArgumentError(
            f"A new trial cannot be given the system attr(s) {', '.join(reserved)}: the "
            "engine records them while the trial runs.")


def _trial_to_add(raw: dict[str, Any]) -> FrozenTrial:
    """The finished trial a client sends to add, as ``trial_to_json`` writes one; a 400
    naming what is wrong with it otherwise."""
    try:
        trial = trial_from_json(raw)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError,
            PipetuneError) as error:
        problem = f"{type(error).__name__}: {error}"
    else:
        if isinstance(trial.user_attrs, dict) and isinstance(trial.system_attrs, dict) \
                and (trial.worker is None or isinstance(trial.worker, str)) \
                and all(-2**63 <= step < 2**63 for step in trial.intermediate_values):
            return trial
        problem = "its attrs must be objects, its worker a string or null, its steps 64-bit " \
            "integers"
    raise InvalidArgumentError(
        "The trial to add is not a trial as the API writes it (see "
        f"pipetune.storage.remote.trial_to_json): {problem}.")


class _JSON(JSONResponse):
    """JSON that keeps NaN / inf inside attributes (Python's json reads them back)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def _error(status: int, kind: str, message: str, **headers: str) -> _JSON:
    return _JSON({"error": kind, "message": message}, status_code=status, headers=headers or None)


class RequestTooLarge(HTTPException):
    """A request body above its route's cap: raised by the door, or while the body is read
    (an HTTPException, so that FastAPI's body parsing lets it through); answered with 413."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"The request body is larger than this server accepts here "
                              f"({cap / 2**20:g} MiB): artifact uploads are capped by pipetune "
                              "server --max-artifact-mb, other requests at "
                              f"{MAX_JSON_BYTES / 2**20:g} MiB.")

    def response(self) -> _JSON:
        return _error(413, "RequestTooLarge", self.detail, Connection="close")


def read_token_file(path: str | Path) -> dict[str, str]:
    """Reads a token file: one ``write <token>`` or ``read <token>`` per line, or a file holding
    one bare token (a write token, as most tools write a token file); blank lines and lines
    starting with ``#`` are skipped. Returns token -> role; a file that yields no token, or
    gives one token two roles, raises ConfigError (a server must never start open by
    mistake)."""
    shown = repr(str(path))
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError(f"Cannot read the token file {shown}: {reason}.") from None
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.strip().startswith("#")]
    if not lines:
        raise ConfigError(
            f"The token file {shown} holds no token, so the server would be open to anyone: "
            "write one 'write <token>' or 'read <token>' per line (or one bare token, a write "
            "token).")
    if len(lines) == 1 and len(lines[0][1].split()) == 1 and lines[0][1] not in ROLES:
        return {lines[0][1]: "write"}
    tokens: dict[str, str] = {}
    for number, line in lines:
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ROLES:
            raise ConfigError(
                f"Line {number} of the token file {shown} must be 'write <token>' or "
                f"'read <token>' (a file of one bare token is a write token). Got a line of "
                f"{len(line)} characters starting {line[:6]!r}.")
        role, token = parts
        if tokens.get(token, role) != role:
            raise ConfigError(
                f"Line {number} of the token file {shown} gives a token already listed as "
                f"{tokens[token]!r} the role {role!r}: give each token one role.")
        tokens[token] = role
    return tokens


def check_tls_files(cert: str, key: str) -> None:
    """Raises ConfigError naming the problem unless ``cert`` and ``key`` are a PEM certificate
    (chain) and its private key that TLS can serve with."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"Cannot serve TLS with --tls-cert {cert!r} and --tls-key {key!r}: {error}. Give a "
            "PEM certificate (chain) and the PEM private key it was made for.") from None


class _Door:
    """ASGI middleware that checks the Host header, the bearer token and the body's size of
    every request before the app (and so FastAPI's body parsing) sees it; see the module
    docstring."""

    def __init__(self, app: Any, tokens: Mapping[str, str],
                 allowed_hosts: Collection[str] | None, max_json_bytes: int,
                 max_artifact_bytes: int) -> None:
        self.app = app
        self.tokens = [(token.encode(), role) for token, role in tokens.items()]
        self.allowed_hosts = None if allowed_hosts is None else {
            host.strip().strip("[]").lower() for host in allowed_hosts}
        self.max_json_bytes = max_json_bytes
        self.max_artifact_bytes = max_artifact_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._host_refusal(headers) or self._token_refusal(scope, headers)
        if refusal is None:
            upload = scope["method"] == "PUT" and ARTIFACT_UPLOAD.fullmatch(scope["path"])
            cap = self.max_artifact_bytes if upload else self.max_json_bytes
            length = headers.get("content-length", "0")
            if not length.isdigit() or int(length) > cap:
                refusal = RequestTooLarge(cap).response()
            else:
                await self.app(scope, _capped(receive, cap), send)
                return
        # Closing the connection leaves an unread body unread (keep-alive would read it all).
        refusal.headers["Connection"] = "close"
        await refusal(scope, receive, send)

    def _host_refusal(self, headers: Headers) -> _JSON | None:
        if self.allowed_hosts is None:
            return None
        given = headers.get("host", "")
        if _host_name(given) in self.allowed_hosts:
            return None
        return _error(400, "HostNotAllowed",
                      f"This pipetune server does not answer to the host {given[:100]!r} (a guard "
                      "against DNS rebinding): if that is its name, start it with "
                      f"--allowed-host {_host_name(given) or '<name>'}.")

    def _token_refusal(self, scope: dict[str, Any], headers: Headers) -> _JSON | None:
        path = scope["path"]
        if not self.tokens or path in _OPEN_PATHS or path.startswith(_OPEN_PREFIX):
            return None
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return _error(UNAUTHENTICATED, "AuthorizationError",
                          "This pipetune server needs a bearer token: send 'Authorization: "
                          "Bearer <token>' (PIPETUNE_TOKEN for the client).",
                          **{"WWW-Authenticate": "Bearer"})
        # compare_digest over every token: the answer's timing tells nothing about the tokens
        role = None
        for token, token_role in self.tokens:
            if hmac.compare_digest(given.strip().encode(), token):
                role = token_role
        if role is None:
            return _error(UNAUTHENTICATED, "AuthorizationError",
                          "Unknown bearer token: use one listed in the server's --token-file.",
                          **{"WWW-Authenticate": "Bearer"})
        if role != "write" and scope["method"] not in ("GET", "HEAD"):
            return _error(FORBIDDEN, "AuthorizationError",
                          "This token may only read: writes need a 'write' token.")
        return None


def _host_name(host: str) -> str:
    """The lower-case name in a Host header, without its port or IPv6 brackets."""
    try:
        return urllib.parse.urlsplit("//" + host.strip()).hostname or ""
    except ValueError:
        return ""


def _capped(receive: Callable[[], Awaitable[Any]], cap: int) -> Callable[[], Awaitable[Any]]:
    """``receive`` that raises RequestTooLarge (a 413) once the body read passes ``cap`` bytes
    (a chunked body, or one longer than its Content-Length said)."""
    received = 0

    async def capped_receive() -> Any:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > cap:
                raise RequestTooLarge(cap)
        return message

    return capped_receive


def _described(error: RequestValidationError) -> str:
    """One sentence naming each malformed part of a request (FastAPI's validation errors)."""
    problems = []
    for item in error.errors()[:3]:
        where = ".".join(str(part) for part in item.get("loc", ()))
        given = item.get("input")
        shown = "" if given is None or isinstance(given, (dict, list)) else \
            f" (got {str(given)[:60]!r})"
        problems.append(f"{where}: {item.get('msg', 'invalid')}{shown}")
    return "Malformed request: " + "; ".join(problems) + "."


# -- request bodies (they also document the API in /openapi.json) -------------------------------


class StudyIn(BaseModel):
    study_name: str
    directions: list[str]


class ValueIn(BaseModel):
    value: Any = None


class TrialIn(BaseModel):
    state: str = "WAITING"
    system_attrs: dict[str, Any] = {}


class TrialAddIn(BaseModel):
    trial: dict[str, Any]


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


def create_app(storage: BaseStorage, tokens: Mapping[str, str] | None = None, *,
               allowed_hosts: Collection[str] | None = LOOPBACK_HOSTS,
               max_json_bytes: int = MAX_JSON_BYTES,
               max_artifact_bytes: int = MAX_ARTIFACT_BYTES) -> FastAPI:
    """The HTTP API over ``storage`` (see the module docstring). ``tokens`` maps bearer token ->
    ``"read"`` or ``"write"``; none means an open server. ``allowed_hosts`` are the names
    (or addresses) clients reach it by, None for any. The storage is ``app.state.storage`` and
    may be swapped while serving (the tests give each test a fresh one)."""
    tokens = dict(tokens or {})
    for role in tokens.values():
        if role not in ROLES:
            raise InvalidArgumentError(
                f"The role of a server token must be 'read' or 'write'. Got {role!r}.")
    for name, value in (("max_json_bytes", max_json_bytes),
                        ("max_artifact_bytes", max_artifact_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(
                f"The {name!r} argument of create_app must be an int >= 1. Got {value!r}.")
    app = FastAPI(title="pipetune storage API", version="1",
                  default_response_class=_JSON)
    app.state.storage = storage
    app.add_middleware(_Door, tokens=tokens, allowed_hosts=allowed_hosts,
                       max_json_bytes=max_json_bytes, max_artifact_bytes=max_artifact_bytes)

    @app.exception_handler(PipetuneError)
    def _pipetune_error(request: Request, error: PipetuneError) -> _JSON:
        return _error(status_of(error), type(error).__name__, str(error))

    @app.exception_handler(NotImplementedError)
    def _not_implemented(request: Request, error: NotImplementedError) -> _JSON:
        return _error(status_of(error), "NotImplementedError", str(error))

    @app.exception_handler(OverflowError)
    def _out_of_range(request: Request, error: OverflowError) -> _JSON:
        return _error(status_of(error), "InvalidArgumentError",
                      f"A number in the request is out of range ({error}): ids, numbers and "
                      "steps are 64-bit integers, values floats.")

    @app.exception_handler(RequestValidationError)
    def _malformed(request: Request, error: RequestValidationError) -> _JSON:
        return _error(400, "InvalidArgumentError", _described(error))

    @app.exception_handler(RequestTooLarge)
    def _too_large(request: Request, error: RequestTooLarge) -> _JSON:
        return error.response()

    def st() -> BaseStorage:
        return app.state.storage

    # Routes return plain JSON-ready data: response_model=None skips FastAPI's re-validation
    # (which would also turn a NaN inside an attribute into null).
    plain: dict[str, Any] = {"response_model": None}

    @app.get(API + "/health", response_model=None)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # -- studies -------------------------------------------------------------------------------

    @app.post(API + "/studies", **plain, status_code=201)
    def create_study(body: StudyIn) -> dict[str, int]:
        directions = [StudyDirection.parse(d.lower()) for d in body.directions]
        return {"study_id": st().create_study(body.study_name, directions)}

    @app.get(API + "/studies", **plain)
    def list_studies() -> list[dict[str, Any]]:
        return [summary_to_json(s) for s in st().list_studies()]

    @app.get(API + "/studies/by-name", **plain)
    def get_study_id(name: str) -> dict[str, int]:
        return {"study_id": st().get_study_id(name)}

    @app.get(API + "/studies/{study_id}", **plain)
    def get_study(study_id: int) -> dict[str, Any]:
        return {"study_id": study_id, "study_name": st().get_study_name(study_id),
                "directions": [d.name for d in st().get_study_directions(study_id)]}

    @app.delete(API + "/studies/{study_id}", **plain)
    def delete_study(study_id: int) -> dict[str, bool]:
        st().delete_study(study_id)
        return {"deleted": True}

    @app.put(API + "/studies/{study_id}/attrs/{key:path}", **plain)
    def set_study_attr(study_id: int, key: str, body: ValueIn,
                       system: bool = False) -> dict[str, bool]:
        st().set_study_attr(study_id, key, body.value, system=system)
        return {"stored": True}

    @app.get(API + "/studies/{study_id}/attrs", **plain)
    def get_study_attrs(study_id: int, system: bool = False) -> dict[str, Any]:
        return st().get_study_attrs(study_id, system=system)

    @app.post(API + "/studies/{study_id}/keys/{key:path}", **plain)
    def claim_key(study_id: int, key: str, body: KeyIn) -> dict[str, bool]:
        return {"claimed": st().claim_key(study_id, key, body.trial_id)}

    # -- trials of a study ---------------------------------------------------------------------

    @app.post(API + "/studies/{study_id}/trials", **plain, status_code=201)
    def create_trial(study_id: int, body: TrialIn) -> dict[str, Any]:
        _refuse_reserved(body.system_attrs)
        trial = st().create_trial(study_id, state=TrialState.parse(body.state),
                                  system_attrs=body.system_attrs)
        return trial_to_json(trial)

    @app.post(API + "/studies/{study_id}/trials/add", **plain, status_code=201)
    def add_trial(study_id: int, body: TrialAddIn) -> dict[str, Any]:
        trial = _trial_to_add(body.trial)
        _refuse_reserved(trial.system_attrs)
        return trial_to_json(st().add_trial(study_id, trial))

    @app.post(API + "/studies/{study_id}/trials/claim", **plain)
    def claim_trial(study_id: int, body: ClaimIn) -> dict[str, Any] | None:
        trial = st().claim_trial(study_id, body.worker, max_trials=body.max_trials,
                                 max_parallel=body.max_parallel)
        return None if trial is None else trial_to_json(trial)

    @app.post(API + "/studies/{study_id}/trials/fail-stale", **plain)
    def fail_stale_trials(study_id: int, body: StaleIn) -> list[dict[str, Any]]:
        return [trial_to_json(t) for t in st().fail_stale_trials(
            study_id, body.grace_period, retry_failed=body.retry_failed)]

    @app.get(API + "/studies/{study_id}/trials", **plain)
    def get_trials(study_id: int, states: str | None = None, since: int | None = None,
                   also: str = "") -> list[dict[str, Any]]:
        """All trials (optionally of some ``states``), or with ``since`` the incremental read:
        trials with id > ``since`` plus the comma-separated ids in ``also``."""
        if since is not None:
            trials = st().get_trials_since(study_id, since, _parse_ids(also))
        else:
            trials = st().get_trials(study_id, _parse_states(states))
        return [trial_to_json(t) for t in trials]

    @app.get(API + "/studies/{study_id}/trials/count", **plain)
    def count_trials(study_id: int, states: str | None = None) -> dict[str, int]:
        return {"count": st().count_trials(study_id, _parse_states(states))}

    @app.get(API + "/studies/{study_id}/trials/by-number/{number}", **plain)
    def get_trial_id(study_id: int, number: int) -> dict[str, int]:
        return {"trial_id": st().get_trial_id(study_id, number)}

    # -- one trial -----------------------------------------------------------------------------

    @app.get(API + "/trials/{trial_id}", **plain)
    def get_trial(trial_id: int) -> dict[str, Any]:
        return trial_to_json(st().get_trial(trial_id))

    @app.post(API + "/trials/{trial_id}/params", **plain)
    def set_trial_params(trial_id: int, body: ParamsIn) -> dict[str, bool]:
        st().set_trial_params(trial_id, {
            name: (decode_float(param.internal_value),
                   distribution_from_json(json.dumps(param.distribution)))
            for name, param in body.params.items()})
        return {"stored": True}

    @app.post(API + "/trials/{trial_id}/finish", **plain)
    def finish_trial(trial_id: int, body: FinishIn) -> dict[str, bool]:
        values = None if body.values is None else [decode_float(v) for v in body.values]
        return {"changed": st().finish_trial(trial_id, TrialState.parse(body.state), values)}

    @app.put(API + "/trials/{trial_id}/intermediate/{step}", **plain)
    def set_intermediate_value(trial_id: int, step: int, body: StepValueIn) -> dict[str, bool]:
        value = body.value
        decoded = (tuple(decode_float(v) for v in value) if isinstance(value, list)
                   else decode_float(value))
        return {"stored": st().set_trial_intermediate_value(trial_id, step, decoded)}

    @app.put(API + "/trials/{trial_id}/attrs/{key:path}", **plain)
    def set_trial_attr(trial_id: int, key: str, body: ValueIn,
                       system: bool = False) -> dict[str, bool]:
        st().set_trial_attr(trial_id, key, body.value, system=system)
        return {"stored": True}

    @app.post(API + "/trials/{trial_id}/heartbeat", **plain)
    def heartbeat(trial_id: int) -> dict[str, bool]:
        st().heartbeat(trial_id)
        return {"stored": True}

    add_tracking_routes(app, st)

    app.include_router(dashboard_router(st))  # the web dashboard at /
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


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8080, *,
          tls_cert: str | None = None, tls_key: str | None = None) -> None:
    """Serves ``app`` in the foreground until SIGINT / SIGTERM (``pipetune server``), over TLS
    with ``tls_cert`` and ``tls_key`` (PEM files; ``check_tls_files`` says what is wrong with
    them)."""
    uvicorn = require("uvicorn", "server")
    sock = _bind(host, port)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", ssl_certfile=tls_cert,
                                      ssl_keyfile=tls_key)).run(sockets=[sock])
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
