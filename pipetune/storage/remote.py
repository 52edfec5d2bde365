"""Storage over HTTP: every ``BaseStorage`` call is one JSON request to a ``pipetune server``.

Workers given ``storage="http://host:8080"`` need no database driver and no database
credentials, only the server's address (and a bearer token when the server asks for one,
taken from ``PIPETUNE_TOKEN`` by ``get_storage``). The client uses only the standard library
(``http.client``, one keep-alive connection per thread). The server's errors come back as the
same pipetune exception types with the server's message; a refused or reset connection is retried
with a short backoff, so a server restarted between two calls is survived. (A reset can in rare
cases come after the server acted on a write; the retried write then meets the storage's own
guards: a finished trial is not finished twice, a repeated step is ignored; a repeated claim
leaves one RUNNING trial without a worker, which the heartbeat check fails.)

The JSON forms below (``trial_to_json`` and friends) are shared with ``pipetune.server``. Floats
that JSON cannot hold (NaN, +-inf) travel as the strings ``"NaN"``, ``"Infinity"``,
``"-Infinity"``; params travel in their internal encoding together with their distribution, so
every value comes back with its exact type.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import math
import os
import ssl
import threading
import time
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pipetune.errors as errors
from pipetune.datatypes import (
    ArtifactInfo,
    FrozenTrial,
    MetricPoint,
    StudyDirection,
    StudySummary,
    TrialState,
)
from pipetune.distributions import Distribution, distribution_from_json
from pipetune.errors import (
    InvalidArgumentError,
    StorageError,
    StorageUnavailableError,
    StorageURLError,
)
from pipetune.storage.artifacts import check_name, read_source
from pipetune.storage.base import BaseStorage

__all__ = ["CA_BUNDLE_ENV", "RemoteStorage", "artifact_from_json", "artifact_to_json",
           "decode_float", "encode_float", "metric_point_from_json", "metric_point_to_json",
           "summary_from_json", "summary_to_json", "trial_from_json", "trial_to_json"]

API = "/api/v1"
CA_BUNDLE_ENV = "PIPETUNE_CA_BUNDLE"  # read by get_storage for https:// URLs

# The error types a server may name in a response; anything else becomes a StorageError.
_ERROR_TYPES: dict[str, type[errors.PipetuneError]] = {
    cls.__name__: cls for cls in (
        errors.StudyNotFoundError, errors.TrialNotFoundError, errors.DuplicateStudyError,
        errors.UpdateFinishedTrialError, errors.InvalidArgumentError,
        errors.ParamConflictError, errors.InvalidDistributionError, errors.StorageError,
        errors.StorageUnavailableError,
        errors.ArtifactNotFoundError, errors.FilterSyntaxError)
}

# -- JSON forms ------------------------------------------------------------------------------------


def encode_float(value: float) -> float | str:
    """A float as JSON can hold it: NaN and infinities become strings."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def decode_float(value: Any) -> float:
    """The inverse of ``encode_float``; raises InvalidArgumentError for anything else."""
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(
            f"A value sent to the pipetune server must be a number, 'NaN', 'Infinity' or "
            f"'-Infinity'. Got {value!r}.")
    return float(value)


def _encode_step_value(value: float | tuple[float, ...]) -> Any:
    if isinstance(value, (tuple, list)):
        return [encode_float(v) for v in value]
    return encode_float(value)


def _decode_step_value(value: Any) -> float | tuple[float, ...]:
    if isinstance(value, list):
        return tuple(decode_float(v) for v in value)
    return decode_float(value)


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def trial_to_json(trial: FrozenTrial) -> dict[str, Any]:
    """A trial as a JSON-ready dict (params in their internal encoding)."""
    return {
        "trial_id": trial.trial_id,
        "number": trial.number,
        "state": trial.state.name,
        "values": None if trial.values is None else [encode_float(v) for v in trial.values],
        "params": {name: {"internal": encode_float(trial.distributions[name].to_internal(value)),
                          "distribution": json.loads(trial.distributions[name].to_json())}
                   for name, value in trial.params.items()},
        "user_attrs": trial.user_attrs,
        "system_attrs": trial.system_attrs,
        "intermediate_values": [[step, _encode_step_value(value)]
                                for step, value in trial.intermediate_values.items()],
        "datetime_start": _time(trial.datetime_start),
        "datetime_complete": _time(trial.datetime_complete),
        "worker": trial.worker,
    }


def trial_from_json(data: dict[str, Any]) -> FrozenTrial:
    """The inverse of ``trial_to_json``."""
    params: dict[str, Any] = {}
    distributions: dict[str, Distribution] = {}
    for name, param in data["params"].items():
        distribution = distribution_from_json(json.dumps(param["distribution"]))
        distributions[name] = distribution
        params[name] = distribution.to_external(decode_float(param["internal"]))
    values = data["values"]
    return FrozenTrial(
        number=data["number"], trial_id=data["trial_id"], state=TrialState[data["state"]],
        values=None if values is None else tuple(decode_float(v) for v in values),
        params=params, distributions=distributions,
        user_attrs=data["user_attrs"], system_attrs=data["system_attrs"],
        intermediate_values={int(step): _decode_step_value(value)
                             for step, value in data["intermediate_values"]},
        datetime_start=_parse_time(data["datetime_start"]),
        datetime_complete=_parse_time(data["datetime_complete"]),
        worker=data["worker"])


def summary_to_json(summary: StudySummary) -> dict[str, Any]:
    return {
        "study_id": summary.study_id, "study_name": summary.study_name,
        "directions": [d.name for d in summary.directions], "n_trials": summary.n_trials,
        "best_trial": None if summary.best_trial is None else trial_to_json(summary.best_trial),
        "datetime_start": _time(summary.datetime_start),
        "user_attrs": summary.user_attrs, "system_attrs": summary.system_attrs,
    }


def summary_from_json(data: dict[str, Any]) -> StudySummary:
    best = data["best_trial"]
    return StudySummary(
        study_id=data["study_id"], study_name=data["study_name"],
        directions=tuple(StudyDirection[d] for d in data["directions"]),
        n_trials=data["n_trials"], best_trial=None if best is None else trial_from_json(best),
        datetime_start=_parse_time(data["datetime_start"]),
        user_attrs=data["user_attrs"], system_attrs=data["system_attrs"])


def metric_point_to_json(point: MetricPoint) -> list[Any]:
    """A metric point as a compact JSON array: [name, step, value, timestamp]."""
    return [point.name, int(point.step), encode_float(point.value), float(point.timestamp)]


def metric_point_from_json(data: Any) -> MetricPoint:
    if not isinstance(data, list) or len(data) != 4 or not isinstance(data[0], str) \
            or isinstance(data[1], bool) or not isinstance(data[1], int):
        raise InvalidArgumentError(
            f"A metric point is [name, step, value, timestamp] with a string name and an int "
            f"step. Got {data!r:.200}.")
    name, step, value, timestamp = data
    return MetricPoint(name, step, decode_float(value), decode_float(timestamp))


def artifact_to_json(info: ArtifactInfo) -> dict[str, Any]:
    return {"trial_id": info.trial_id, "name": info.name, "size": info.size,
            "media_type": info.media_type, "created_at": _time(info.created_at)}


def artifact_from_json(data: dict[str, Any]) -> ArtifactInfo:
    return ArtifactInfo(trial_id=data["trial_id"], name=data["name"], size=data["size"],
                        media_type=data["media_type"],
                        created_at=dt.datetime.fromisoformat(data["created_at"]))


def _quote_path(name: str) -> str:
    return urllib.parse.quote(name, safe="/")


def _json_value(value: Any) -> Any:
    """Checks that an attribute can travel as JSON, as every storage requires."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"Attributes must be JSON-serializable (str, number, bool, None, list, dict). Got "
            f"{value!r}: convert it first, e.g. str(value).") from None
    return value


def _states(states: Collection[TrialState] | None) -> dict[str, str]:
    if states is None:
        return {}
    return {"states": ",".join(TrialState.parse(s).name for s in states)}


def _quote(segment: Any) -> str:
    return urllib.parse.quote(str(segment), safe="")


def _tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Verifies the server's certificate and host name against ``ca_bundle``, else the
    system's certificate authorities."""
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as error:
        raise StorageURLError(
            f"The CA bundle {ca_bundle!r} cannot be used ({error}): give the path of a PEM file "
            f"of CA certificates (${CA_BUNDLE_ENV} or RemoteStorage(ca_bundle=...)).") from None


# -- the client ------------------------------------------------------------------------------------


def _reopen(url: str, token: str | None, retries: int, timeout: float,
            ca_bundle: str | None) -> RemoteStorage:
    return RemoteStorage(url, token, retries=retries, timeout=timeout, ca_bundle=ca_bundle)


class RemoteStorage(BaseStorage):
    """A ``BaseStorage`` whose data lives behind a ``pipetune server`` at ``url``.

    Args:
        url: the server's base URL, ``http://host:port`` (or ``https://``).
        token: the bearer token sent with every request (a write token to run trials).
        retries: how many times a refused or reset connection is retried before StorageError.
        timeout: seconds one request may take.
        ca_bundle: for an ``https://`` URL, a PEM file of the certificate authorities to trust
            (a private CA, or a server's self-signed certificate) instead of the system's;
            ``get_storage`` takes it from ``$PIPETUNE_CA_BUNDLE``. The server's certificate and
            host name are always verified.
    """

    def __init__(self, url: str, token: str | None = None, *, retries: int = 8,
                 timeout: float = 60.0, ca_bundle: str | None = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise StorageURLError(
                f"A remote storage URL must look like 'http://host:8080'. Got {url!r}.")
        if not isinstance(retries, int) or retries < 0:
            raise InvalidArgumentError(
                f"The 'retries' argument of RemoteStorage must be an int >= 0. Got {retries!r}.")
        self.url = url.rstrip("/")
        self._https = parsed.scheme == "https"
        self._ca_bundle = ca_bundle
        self._tls = _tls_context(ca_bundle) if self._https else None
        self._host = parsed.hostname
        self._port = parsed.port or (443 if self._https else 80)
        self._prefix = parsed.path.rstrip("/") + API
        self._token = token
        self._retries = retries
        self._timeout = timeout
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._connections_lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickles as its address (connections stay behind), so it can travel to another
        # process, e.g. a Ray task or a process pool, and reconnect there.
        return (_reopen, (self.url, self._token, self._retries, self._timeout, self._ca_bundle))

    # -- transport -----------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._https:
                connection = http.client.HTTPSConnection(self._host, self._port,
                                                         timeout=self._timeout, context=self._tls)
            else:
                connection = http.client.HTTPConnection(self._host, self._port,
                                                        timeout=self._timeout)
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _request(self, method: str, path: str, body: Any = None,
                 query: dict[str, Any] | None = None, *, data: bytes | None = None,
                 content_type: str | None = None, raw: bool = False) -> Any:
        """One request: a JSON ``body``, or raw ``data`` of ``content_type``; returns the
        decoded JSON answer, or its bytes with ``raw``."""
        target = self._prefix + path
        if query:
            target += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        payload = data
        if data is not None:
            headers["Content-Type"] = content_type or "application/octet-stream"
        elif body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        delay = 0.05
        for attempt in range(self._retries + 1):
            try:
                connection = self._connection()
                connection.request(method, target, body=payload, headers=headers)
                response = connection.getresponse()
                content = response.read()
                break
            except (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError,
                    BrokenPipeError, http.client.RemoteDisconnected) as error:
                # Refused: the server is down (or restarting) and never saw the request. Reset
                # or disconnected: usually a keep-alive connection the server closed while idle.
                self._drop_connection()
                if attempt == self._retries:
                    raise StorageUnavailableError(
                        f"The pipetune server at {self.url} is unreachable ({error!r}) after "
                        f"{self._retries + 1} attempts. Check that 'pipetune server' runs there "
                        "and the URL is right.") from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except ssl.SSLError as error:  # retrying would not help
                self._drop_connection()
                raise StorageError(
                    f"TLS with the pipetune server at {self.url} failed: {error}. If the server's "
                    "certificate is signed by a private CA (or self-signed), give that CA's PEM "
                    f"file in ${CA_BUNDLE_ENV} (or RemoteStorage(ca_bundle=...)).") from None
            except (OSError, http.client.HTTPException) as error:  # e.g. a timeout
                self._drop_connection()
                raise StorageUnavailableError(
                    f"Request {method} {target} to the pipetune server at {self.url} failed: "
                    f"{error!r}.") from None
        if raw and response.status < 400:
            return content
        return self._decode(response, content, method, target)

    def _decode(self, response: http.client.HTTPResponse, raw: bytes, method: str,
                target: str) -> Any:
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if response.status < 400:
            return data
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            message = str(data.get("message", ""))
            cls = _ERROR_TYPES.get(data["error"])
            if cls is not None:
                raise cls(message)
        else:
            message = raw[:500].decode(errors="replace")
        if response.status == 401:
            raise StorageError(
                f"The pipetune server at {self.url} needs a bearer token: set the "
                f"PIPETUNE_TOKEN environment variable (or RemoteStorage(token=...)). {message}")
        if response.status == 403:
            raise StorageError(
                f"The token given to the pipetune server at {self.url} may not do this "
                f"({method} {target}): use a write token. {message}")
        # A gateway between us and the server answers these while the server is away.
        unavailable = response.status in (502, 503, 504)
        raise (StorageUnavailableError if unavailable else StorageError)(
            f"The pipetune server at {self.url} answered {response.status} to {method} "
            f"{target}: {message}")

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    # -- studies -------------------------------------------------------------------------------

    def create_study(self, study_name: str, directions: Sequence[StudyDirection]) -> int:
        body = {"study_name": study_name,
                "directions": [StudyDirection.parse(d).name for d in directions]}
        return self._request("POST", "/studies", body)["study_id"]

    def delete_study(self, study_id: int) -> None:
        self._request("DELETE", f"/studies/{int(study_id)}")

    def get_study_id(self, study_name: str) -> int:
        return self._request("GET", "/studies/by-name", query={"name": study_name})["study_id"]

    def get_study_name(self, study_id: int) -> str:
        return self._request("GET", f"/studies/{int(study_id)}")["study_name"]

    def get_study_directions(self, study_id: int) -> tuple[StudyDirection, ...]:
        data = self._request("GET", f"/studies/{int(study_id)}")
        return tuple(StudyDirection[d] for d in data["directions"])

    def set_study_attr(self, study_id: int, key: str, value: Any, *, system: bool = False) -> None:
        self._request("PUT", f"/studies/{int(study_id)}/attrs/{_quote(key)}",
                      {"value": _json_value(value)}, query={"system": str(system).lower()})

    def get_study_attrs(self, study_id: int, *, system: bool = False) -> dict[str, Any]:
        return self._request("GET", f"/studies/{int(study_id)}/attrs",
                             query={"system": str(system).lower()})

    def list_studies(self) -> list[StudySummary]:
        return [summary_from_json(s) for s in self._request("GET", "/studies")]

    # -- trials --------------------------------------------------------------------------------

    def create_trial(self, study_id: int, *, state: TrialState = TrialState.WAITING,
                     system_attrs: dict[str, Any] | None = None) -> FrozenTrial:
        body = {"state": TrialState.parse(state).name,
                "system_attrs": _json_value(system_attrs or {})}
        return trial_from_json(self._request("POST", f"/studies/{int(study_id)}/trials", body))

    def add_trial(self, study_id: int, trial: FrozenTrial) -> FrozenTrial:
        _json_value(trial.user_attrs)
        _json_value(trial.system_attrs)
        return trial_from_json(self._request("POST", f"/studies/{int(study_id)}/trials/add",
                                             {"trial": trial_to_json(trial)}))

    def claim_trial(self, study_id: int, worker: str | None = None,
                    max_trials: int | None = None,
                    max_parallel: int | None = None) -> FrozenTrial | None:
        body = {"worker": worker, "max_trials": max_trials, "max_parallel": max_parallel}
        data = self._request("POST", f"/studies/{int(study_id)}/trials/claim", body)
        return None if data is None else trial_from_json(data)

    def set_trial_params(self, trial_id: int,
                         params: Mapping[str, tuple[float, Distribution]]) -> None:
        body = {"params": {name: {"internal_value": encode_float(internal),
                                  "distribution": json.loads(distribution.to_json())}
                           for name, (internal, distribution) in params.items()}}
        self._request("POST", f"/trials/{int(trial_id)}/params", body)

    def finish_trial(self, trial_id: int, state: TrialState,
                     values: Sequence[float] | None = None) -> bool:
        body = {"state": TrialState.parse(state).name,
                "values": None if values is None else [encode_float(v) for v in values]}
        return self._request("POST", f"/trials/{int(trial_id)}/finish", body)["changed"]

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     value: float | tuple[float, ...]) -> bool:
        body = {"value": _encode_step_value(value)}
        return self._request("PUT", f"/trials/{int(trial_id)}/intermediate/{int(step)}",
                             body)["stored"]

    def set_trial_attr(self, trial_id: int, key: str, value: Any, *, system: bool = False) -> None:
        self._request("PUT", f"/trials/{int(trial_id)}/attrs/{_quote(key)}",
                      {"value": _json_value(value)}, query={"system": str(system).lower()})

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return trial_from_json(self._request("GET", f"/trials/{int(trial_id)}"))

    def get_trial_id(self, study_id: int, number: int) -> int:
        return self._request(
            "GET", f"/studies/{int(study_id)}/trials/by-number/{int(number)}")["trial_id"]

    def get_trials(self, study_id: int,
                   states: Collection[TrialState] | None = None) -> list[FrozenTrial]:
        data = self._request("GET", f"/studies/{int(study_id)}/trials", query=_states(states))
        return [trial_from_json(t) for t in data]

    def get_trials_since(self, study_id: int, last_seen_id: int,
                         also_ids: Collection[int] = ()) -> list[FrozenTrial]:
        query = {"since": int(last_seen_id), "also": ",".join(str(int(i)) for i in also_ids)}
        data = self._request("GET", f"/studies/{int(study_id)}/trials", query=query)
        return [trial_from_json(t) for t in data]

    def count_trials(self, study_id: int, states: Collection[TrialState] | None = None) -> int:
        return self._request("GET", f"/studies/{int(study_id)}/trials/count",
                             query=_states(states))["count"]

    def claim_key(self, study_id: int, key: str, trial_id: int) -> bool:
        return self._request("POST", f"/studies/{int(study_id)}/keys/{_quote(key)}",
                             {"trial_id": int(trial_id)})["claimed"]

    # -- liveness ------------------------------------------------------------------------------

    def heartbeat(self, trial_id: int) -> None:
        self._request("POST", f"/trials/{int(trial_id)}/heartbeat", {})

    def fail_stale_trials(self, study_id: int, grace_period: float,
                          retry_failed: int = 0) -> list[FrozenTrial]:
        data = self._request("POST", f"/studies/{int(study_id)}/trials/fail-stale",
                             {"grace_period": float(grace_period),
                              "retry_failed": int(retry_failed)})
        return [trial_from_json(t) for t in data]

    # -- tracking ------------------------------------------------------------------------------

    def add_trial_metrics(self, trial_id: int, points: Sequence[MetricPoint]) -> None:
        if points:
            self._request("POST", f"/trials/{int(trial_id)}/metrics",
                          {"points": [metric_point_to_json(p) for p in points]})

    def get_metric_history(self, trial_id: int, name: str | None = None) -> list[MetricPoint]:
        query = {} if name is None else {"name": name}
        data = self._request("GET", f"/trials/{int(trial_id)}/metrics", query=query)
        return [metric_point_from_json(p) for p in data["points"]]

    def get_last_metrics(self, study_id: int) -> dict[int, dict[str, float]]:
        data = self._request("GET", f"/studies/{int(study_id)}/metrics/last")
        return {int(trial_id): {name: decode_float(v) for name, v in values.items()}
                for trial_id, values in data.items()}

    def put_artifact(self, trial_id: int, name: str, data: bytes | str | os.PathLike[str],
                     media_type: str | None = None) -> ArtifactInfo:
        name = check_name(name)
        answer = self._request("PUT", f"/trials/{int(trial_id)}/artifacts/{_quote_path(name)}",
                               data=read_source(data), content_type=media_type,
                               query={} if media_type is None else {"media_type": media_type})
        return artifact_from_json(answer)

    def list_artifacts(self, trial_id: int) -> list[ArtifactInfo]:
        return [artifact_from_json(a)
                for a in self._request("GET", f"/trials/{int(trial_id)}/artifacts")]

    def read_artifact(self, trial_id: int, name: str, *,
                      last_bytes: int | None = None) -> bytes:
        query = {} if last_bytes is None else {"last_bytes": int(last_bytes)}
        return self._request("GET", f"/trials/{int(trial_id)}/artifacts/{_quote_path(name)}",
                             query=query, raw=True)

    def search_trials(self, study_id: int, filter: str | None = None,
                      order_by: str | None = None, limit: int | None = None,
                      offset: int = 0) -> list[FrozenTrial]:
        query: dict[str, Any] = {"offset": int(offset)}
        for key, value in (("filter", filter), ("order_by", order_by), ("limit", limit)):
            if value is not None:
                query[key] = value
        data = self._request("GET", f"/studies/{int(study_id)}/trials/search", query=query)
        return [trial_from_json(t) for t in data]
