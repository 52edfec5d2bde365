"""Property-based fuzzing of a real ``pipetune server``'s JSON API (issue 14): random routes,
path parts, queries, filters and bodies, with no token, an unknown one, a read and a write
token. Whatever comes in, the server never answers 500, gives nothing (not even a study's name)
to a request without a valid token, lets a read token change nothing, and keeps answering
``/api/v1/health`` within a second while it is being fuzzed."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from availability import require_installed

require_installed("fastapi", "uvicorn", extra="server")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_process import READ, WRITE, RealServer

from pipetune.datatypes import StudyDirection, TrialState
from pipetune.storage.remote import RemoteStorage

API = "/api/v1"
SECRET = "secret-study-7f3a"  # the one study, whose name must never reach a caller without rights


@dataclass(frozen=True)
class Seeded:
    study_id: int
    trial_ids: tuple[int, ...]


@pytest.fixture(scope="module")
def seeded(real_server: RealServer) -> Iterator[Seeded]:
    remote = RemoteStorage(real_server.url, token=WRITE)
    study_id = remote.create_study(SECRET, [StudyDirection.MINIMIZE])
    trial_ids = []
    for number in range(3):
        trial = remote.claim_trial(study_id)
        remote.set_trial_attr(trial.trial_id, "note", f"{SECRET} note {number}")
        remote.put_artifact(trial.trial_id, "output.log", f"{SECRET} log\n".encode())
        remote.finish_trial(trial.trial_id, TrialState.COMPLETE, [float(number)])
        trial_ids.append(trial.trial_id)
    remote.close()
    yield Seeded(study_id, tuple(trial_ids))


# -- what a request is made of -----------------------------------------------------------------

_text = st.text(max_size=30)
_segment = st.one_of(_text, st.sampled_from(["..", ".", "%00", "a/b", "x" * 300, "output.log"]))
_number = st.one_of(st.integers(-3, 12), st.integers(-(2**70), 2**70),
                    st.sampled_from(["1e20", "abc", "", "-0", "NaN"]))
_field = st.sampled_from(["params.x", "user_attrs.note", "metrics.loss", "value", "values[1]",
                          "state", "number", "duration", "user_attrs.`a b`", "bogus"])
_literal = st.one_of(st.integers(-5, 5), st.floats(allow_nan=False, width=32),
                     st.text(max_size=8).map(lambda s: "'" + s.replace("'", "") + "'"),
                     st.sampled_from(["null", "true", "COMPLETE", "'%a%a%a%a%a%b'", "'%_%'"]))
_comparison = st.builds(lambda f, op, lit: f"{f} {op} {lit}", _field,
                        st.sampled_from(["=", "!=", "<", ">=", "like", "not like", "in"]), _literal)
_filter = st.one_of(
    _text,
    st.recursive(_comparison, lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"{a} or {b}", inner, inner),
        inner.map(lambda a: f"not ({a})")), max_leaves=12))
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
              st.floats(allow_nan=False, allow_infinity=False), _text),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(_text, inner, max_size=4)), max_leaves=12)
_body = st.one_of(
    _json,
    st.fixed_dictionaries({"study_name": _text, "directions": st.lists(
        st.sampled_from(["MINIMIZE", "maximize", "up", ""]), max_size=3)}),
    st.fixed_dictionaries({"system_attrs": st.dictionaries(
        st.sampled_from(["log_file", "fixed_params", "fail_reason", "x"]), _json, max_size=3)}),
    st.fixed_dictionaries({"value": _json}),
    st.fixed_dictionaries({"state": st.sampled_from(["COMPLETE", "FAIL", "RUNNING", "x"]),
                           "values": st.one_of(st.none(), st.lists(_json, max_size=2))}),
    st.fixed_dictionaries({"points": st.lists(st.lists(_json, max_size=5), max_size=3)}),
    st.fixed_dictionaries({"params": st.dictionaries(_text, st.fixed_dictionaries(
        {"internal_value": _json, "distribution": _json}), max_size=2)}),
    st.fixed_dictionaries({"trial": st.fixed_dictionaries({
        "trial_id": _json, "number": _json,
        "state": st.sampled_from(["COMPLETE", "WAITING", "RUNNING", "x"]),
        "values": st.one_of(st.none(), st.lists(_json, max_size=2)),
        "params": st.dictionaries(_text, st.fixed_dictionaries(
            {"internal": _json, "distribution": _json}), max_size=2),
        "user_attrs": _json, "system_attrs": _json,
        "intermediate_values": st.lists(st.lists(_json, max_size=2), max_size=2),
        "datetime_start": st.one_of(st.none(), _text, st.just("2024-01-01T00:00:00")),
        "datetime_complete": st.one_of(st.none(), _text), "worker": _json})}),
)

# (method, path template); {sid} {tid} {n} {int} are numbers, {key} {name} text, {q} a query
ROUTES = [
    ("GET", "/studies"), ("GET", "/studies/by-name?name={key}"), ("GET", "/studies/{sid}"),
    ("POST", "/studies"), ("PUT", "/studies/{sid}/attrs/{key}?system={flag}"),
    ("GET", "/studies/{sid}/attrs?system={flag}"), ("POST", "/studies/{sid}/keys/{key}"),
    ("POST", "/studies/{sid}/trials"), ("POST", "/studies/{sid}/trials/claim"),
    ("POST", "/studies/{sid}/trials/add"),
    ("POST", "/studies/{sid}/trials/fail-stale"),
    ("GET", "/studies/{sid}/trials?states={key}&since={int}&also={key}"),
    ("GET", "/studies/{sid}/trials/count?states={key}"),
    ("GET", "/studies/{sid}/trials/by-number/{n}"), ("GET", "/trials/{tid}"),
    ("POST", "/trials/{tid}/params"), ("POST", "/trials/{tid}/finish"),
    ("PUT", "/trials/{tid}/intermediate/{int}"), ("PUT", "/trials/{tid}/attrs/{key}?system={flag}"),
    ("POST", "/trials/{tid}/heartbeat"), ("POST", "/trials/{tid}/metrics"),
    ("GET", "/trials/{tid}/metrics?name={key}"), ("GET", "/studies/{sid}/metrics/last"),
    ("GET", "/studies/{sid}/trials/search?filter={filter}&order_by={order}&limit={int}"
            "&offset={int}"),
    ("GET", "/trials/{tid}/artifacts"), ("PUT", "/trials/{tid}/artifacts/{name}"),
    ("GET", "/trials/{tid}/artifacts/{name}?last_bytes={int}"),
    ("GET", "/dashboard/studies"), ("GET", "/dashboard/studies/{sid}"),
    ("GET", "/dashboard/studies/{sid}/trials?filter={filter}&order_by={order}&states={key}"
            "&limit={int}&offset={int}"),
    ("GET", "/dashboard/studies/{sid}/trials.csv?filter={filter}"),
    ("GET", "/dashboard/studies/{sid}/plots/{key}?params={key}"),
    ("GET", "/dashboard/studies/{sid}/trials/{n}"),
    ("GET", "/dashboard/studies/{sid}/trials/{n}/log?tail={int}"),
    ("GET", "/dashboard/studies/{sid}/compare?numbers={key}"),
    ("GET", "/dashboard/studies/{sid}/trials/{n}/artifacts/{name}"),
    ("GET", "/{name}"), ("POST", "/{name}"),
]


@st.composite
def requests(draw: st.DrawFn, seeded: Seeded) -> tuple[str, str, bytes | None]:
    method, template = draw(st.sampled_from(ROUTES))
    ids = {"sid": st.one_of(st.just(seeded.study_id), _number),
           "tid": st.one_of(st.sampled_from(seeded.trial_ids), _number),
           "n": _number, "int": _number}
    values: dict[str, str] = {}
    for name, strategy in ids.items():
        values[name] = urllib.parse.quote(str(draw(strategy)), safe="")
    values["key"] = urllib.parse.quote(draw(_segment), safe="")
    values["name"] = urllib.parse.quote(draw(_segment), safe="/")
    values["flag"] = draw(st.sampled_from(["true", "false", "maybe"]))
    values["filter"] = urllib.parse.quote(draw(_filter), safe="")
    values["order"] = urllib.parse.quote(draw(st.one_of(_field, _text)), safe="")
    path = API + template.format(**values)
    body = None if method == "GET" else json.dumps(draw(_body)).encode()
    return method, path, body


def _protected(path: str) -> bool:
    return not path.startswith(API + "/health")


# -- the property ------------------------------------------------------------------------------


class _HealthProbe:
    """Asks /api/v1/health every 50 ms on a thread; records the slowest answer."""

    def __init__(self, server: RealServer) -> None:
        self.server = server
        self.slowest = 0.0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            started = time.monotonic()
            try:
                status = self.server.request("GET", API + "/health", timeout=10)[0]
            except OSError as error:
                self.failures.append(repr(error))
                continue
            self.slowest = max(self.slowest, time.monotonic() - started)
            if status != 200:
                self.failures.append(f"status {status}")

    def __enter__(self) -> _HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def test_the_api_holds_under_random_requests(real_server: RealServer, seeded: Seeded) -> None:
    tokens = st.sampled_from([None, "not-a-token", READ, WRITE])

    @settings(max_examples=300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=requests(seeded), token=tokens)
    def one_request(request: tuple[str, str, bytes | None], token: str | None) -> None:
        method, path, body = request
        status, _, answer = real_server.request(method, path, body, token)
        assert status < 500, (method, path, body, token, answer[:300])
        if token in (READ, WRITE) or not _protected(path):
            if token == READ and method != "GET" and _protected(path):
                assert status == 403, (method, path)
            return
        assert status == 401, (method, path, token)
        assert SECRET.encode() not in answer

    with _HealthProbe(real_server) as probe:
        one_request()
    assert not probe.failures
    assert probe.slowest < 1.0, f"/health took {probe.slowest:.2f}s while fuzzed"
