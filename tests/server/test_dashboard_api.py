"""The dashboard's JSON routes, page and command: what the browser page relies on.

One server (127.0.0.1, a free port, a thread of this process) serves every test; each test gives
it a fresh in-memory storage. The browser itself is tested in ``test_dashboard_browser.py``.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from availability import require_installed

require_installed("fastapi", "uvicorn", extra="server")

import pipetune
from pipetune.cli import build_parser
from pipetune.cli.dashboard import cmd_dashboard
from pipetune.datatypes import TrialState
from pipetune.server import BackgroundServer, create_app
from pipetune.server.dashboard import plot_kinds
from pipetune.server.dashboard_views import plain, study_start
from pipetune.storage import InMemoryStorage

API = "/api/v1/dashboard"
WRITE, READ = "w-dash", "r-dash"


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(InMemoryStorage())) as running:
        yield running


@pytest.fixture
def storage(server: BackgroundServer) -> InMemoryStorage:
    fresh = InMemoryStorage()
    server.app.state.storage = fresh
    return fresh


def _get(url: str, token: str | None = None, gzip_ok: bool = False
         ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if gzip_ok:
        request.add_header("Accept-Encoding", "gzip")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _json(server: BackgroundServer, path: str, status: int = 200, token: str | None = None
          ) -> Any:
    code, _, body = _get(server.url + API + path, token)
    assert code == status, body
    return json.loads(body)


def _objective(trial: pipetune.Trial) -> float:
    x = trial.suggest_float("x", -4.0, 4.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    for step in range(3):
        trial.report(x * x + 3 - step, step)
    trial.set_user_attr("tag", f"t{trial.number % 3}")
    return x * x + (kind == "b")


def _study(storage: InMemoryStorage, name: str = "demo", n_trials: int = 12) -> pipetune.Study:
    study = pipetune.create_study(storage=storage, study_name=name,
                                  sampler=pipetune.samplers.RandomSampler(seed=1))
    study.optimize(_objective, n_trials=n_trials)
    return study


# -- studies ---------------------------------------------------------------------------------------


def test_studies_list_shows_state_counts_best_and_experiment(
        server: BackgroundServer, storage: InMemoryStorage) -> None:
    done = _study(storage, "done")
    live = pipetune.create_study(storage=storage, study_name="live", direction="maximize")
    storage.set_study_attr(storage.get_study_id("live"), "experiment", "taxi", system=True)
    live.ask()  # one RUNNING trial
    cards = {c["study_name"]: c for c in _json(server, "/studies")}
    assert cards["done"]["state"] == "finished" and cards["done"]["n_trials"] == 12
    assert cards["done"]["states"]["COMPLETE"] == 12
    assert cards["done"]["best"]["number"] == done.best_trial.number
    assert cards["done"]["best"]["values"] == [done.best_value]
    assert cards["done"]["experiment"] == "default" and cards["done"]["kind"] == "study"
    assert cards["live"]["state"] == "running" and cards["live"]["states"]["RUNNING"] == 1
    assert cards["live"]["experiment"] == "taxi" and cards["live"]["best"] is None
    last = dt.datetime.fromisoformat(cards["done"]["last_activity"])
    assert last.tzinfo is not None  # the browser turns it into its own time zone
    assert abs((dt.datetime.now(dt.timezone.utc) - last).total_seconds()) < 600


def test_a_study_started_when_it_was_created_not_when_a_trial_ended(
        server: BackgroundServer, storage: InMemoryStorage) -> None:
    study = _study(storage)
    (summary,) = storage.list_studies()
    created = plain(summary.datetime_start)
    assert created != plain(study.trials[0].datetime_complete)
    assert _json(server, "/studies")[0]["datetime_start"] == created
    assert _json(server, f"/studies/{summary.study_id}")["datetime_start"] == created


def test_without_a_creation_time_a_study_started_with_its_first_trial() -> None:
    study = pipetune.create_study()
    first, second = study.ask(), study.ask()
    study.tell(second, 1.0)  # the first trial to end is not the first to start
    study.tell(first, 2.0)
    study.enqueue_trial({"x": 1.0})  # WAITING: not started
    trials = study.trials
    assert trials[2].datetime_start is None
    assert study_start(None, trials) == trials[0].datetime_start
    assert study_start(None, []) is None
    moment = dt.datetime(2024, 5, 6, 7, 8, 9)
    assert study_start(moment, study.trials) == moment


def test_study_page_has_best_params_columns_and_a_version_that_moves(
        server: BackgroundServer, storage: InMemoryStorage) -> None:
    study = _study(storage)
    sid = storage.get_study_id("demo")
    info = _json(server, f"/studies/{sid}")
    assert info["best"]["params"] == study.best_params
    assert info["columns"]["params"] == ["kind", "x"]
    assert info["columns"]["user_attrs"] == ["tag"]
    assert info["plot_kinds"] == plot_kinds(1) and "pareto_front" not in info["plot_kinds"]
    study.optimize(_objective, n_trials=1)  # the page polls the version to refresh itself
    fresh = _json(server, f"/studies/{sid}")
    assert fresh["version"] != info["version"] and fresh["n_trials"] == 13


def test_multi_objective_study_shows_its_pareto_front(
        server: BackgroundServer, storage: InMemoryStorage) -> None:
    study = pipetune.create_study(storage=storage, study_name="mo",
                                  directions=["minimize", "minimize"])
    for values in ([1.0, 4.0], [2.0, 2.0], [3.0, 3.0], [4.0, 1.0]):
        trial = study.ask()
        study.tell(trial, values)
    info = _json(server, f"/studies/{storage.get_study_id('mo')}")
    assert "pareto_front" in info["plot_kinds"]
    best = info["best"]
    assert best["n_pareto"] == 3
    assert [t["number"] for t in best["pareto_front"]] == [0, 1, 3]


def test_unknown_study_is_a_404_naming_it(server: BackgroundServer,
                                          storage: InMemoryStorage) -> None:
    error = _json(server, "/studies/99", status=404)
    assert error["error"] == "StudyNotFoundError" and "99" in error["message"]


def test_a_study_deleted_and_recreated_under_its_id_shows_the_new_trials(
        server: BackgroundServer, storage: InMemoryStorage) -> None:
    _study(storage, "old", n_trials=5)
    sid = storage.get_study_id("old")
    assert _json(server, f"/studies/{sid}/trials")["total"] == 5
    server.app.state.storage = other = InMemoryStorage()  # a swapped storage is re-read
    _study(other, "new", n_trials=2)
    assert _json(server, f"/studies/{other.get_study_id('new')}/trials")["total"] == 2


# -- the trials table ------------------------------------------------------------------------------


def _with_failed_trial(storage: InMemoryStorage) -> int:
    study = _study(storage)
    failed = study.ask()
    failed.suggest_float("x", -4.0, 4.0)
    study.tell(failed, state=TrialState.FAIL)
    return storage.get_study_id("demo")


def test_table_pages_and_orders_with_missing_values_last(
        server: BackgroundServer, storage: InMemoryStorage) -> None:
    sid = _with_failed_trial(storage)
    trials = pipetune.load_study(study_name="demo", storage=storage).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    for order_by, descending in (("value", False), ("-value", True)):
        rows = []
        for offset in range(0, 13, 5):
            page = _json(server, f"/studies/{sid}/trials?order_by={order_by}&limit=5"
                                 f"&offset={offset}")
            assert page["total"] == 13
            rows += page["rows"]
        expected = sorted(complete, key=lambda t: t.value, reverse=descending)
        assert [r["number"] for r in rows[:12]] == [t.number for t in expected]
        assert rows[12]["state"] == "FAIL" and rows[12]["values"] is None  # last either way
    by_param = _json(server, f"/studies/{sid}/trials?order_by=params.x&limit=100")["rows"]
    xs = [r["params"]["x"] for r in by_param]
    assert xs == sorted(xs)


def test_table_filters_with_the_search_language(server: BackgroundServer,
                                                storage: InMemoryStorage) -> None:
    sid = _with_failed_trial(storage)
    study = pipetune.load_study(study_name="demo", storage=storage)
    query = urllib.parse.urlencode({"filter": "params.kind = 'a' and value < 5",
                                    "order_by": "-value"})
    page = _json(server, f"/studies/{sid}/trials?{query}")
    expected = study.search("params.kind = 'a' and value < 5", order_by="-value")
    assert [r["number"] for r in page["rows"]] == [t.number for t in expected]
    assert page["total"] == len(expected) > 0
    query = urllib.parse.urlencode({"filter": "params.x >> 1"})
    error = _json(server, f"/studies/{sid}/trials?{query}", status=400)
    assert error["error"] == "FilterSyntaxError" and "^" in error["message"]
    for option in ("filter", "order_by"):  # a misspelt param is an error, as in the CLI
        query = urllib.parse.urlencode({option: "params.kinds = 'a'" if option == "filter"
                                        else "-params.kinds"})
        error = _json(server, f"/studies/{sid}/trials?{query}", status=400)
        assert "no param 'kinds'; its params: kind, x" in error["message"], option


def test_table_filters_by_state(server: BackgroundServer, storage: InMemoryStorage) -> None:
    sid = _with_failed_trial(storage)
    page = _json(server, f"/studies/{sid}/trials?states=fail")
    assert page["total"] == 1 and page["rows"][0]["state"] == "FAIL"
    error = _json(server, f"/studies/{sid}/trials?states=done", status=400)
    assert "done" in error["message"] and "COMPLETE" in error["message"]


def test_bad_sort_column_and_page_are_400s(server: BackgroundServer,
                                           storage: InMemoryStorage) -> None:
    sid = _with_failed_trial(storage)
    error = _json(server, f"/studies/{sid}/trials?order_by=colour", status=400)
    assert "colour" in error["message"]
    code, _, body = _get(server.url + API + f"/studies/{sid}/trials?limit=0")
    assert code == 400 and b"limit" in body


def test_csv_download_holds_every_matching_trial(server: BackgroundServer,
                                                 storage: InMemoryStorage) -> None:
    sid = _with_failed_trial(storage)
    code, headers, body = _get(server.url + API + f"/studies/{sid}/trials.csv?states=complete"
                                                  "&order_by=value")
    assert code == 200 and headers["content-type"].startswith("text/csv")
    assert 'filename="demo-trials.csv"' in headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == 12 and {r["state"] for r in rows} == {"COMPLETE"}
    values = [float(r["value"]) for r in rows]
    assert values == sorted(values)
    assert {"params_x", "params_kind", "user_attrs_tag"} <= set(rows[0])


def test_big_answers_are_gzipped_when_the_client_accepts(
        server: BackgroundServer, storage: InMemoryStorage) -> None:
    _study(storage, n_trials=40)
    sid = storage.get_study_id("demo")
    path = server.url + API + f"/studies/{sid}/trials?limit=40"
    code, headers, body = _get(path, gzip_ok=True)
    assert code == 200 and headers.get("content-encoding") == "gzip"
    assert json.loads(gzip.decompress(body))["total"] == 40
    code, headers, body = _get(path)
    assert "content-encoding" not in {k.lower() for k in headers}
    assert json.loads(body)["total"] == 40


# -- one trial, several trials ---------------------------------------------------------------------


def test_trial_detail_has_params_domains_and_intermediate_values(
        server: BackgroundServer, storage: InMemoryStorage) -> None:
    study = _study(storage)
    sid = storage.get_study_id("demo")
    trial = study.trials[4]
    detail = _json(server, f"/studies/{sid}/trials/4")
    assert detail["params"] == trial.params and detail["values"] == [trial.value]
    assert detail["distributions"] == {"x": "float", "kind": "categorical"}
    assert detail["intermediate_values"] == [[s, v] for s, v in
                                             sorted(trial.intermediate_values.items())]
    assert detail["user_attrs"] == {"tag": "t1"} and detail["has_log"] is False
    error = _json(server, f"/studies/{sid}/trials/40", status=404)
    assert "40" in error["message"]


def test_trial_log_shows_the_tail_of_its_stored_output(
        server: BackgroundServer, storage: InMemoryStorage, tmp_path: Path) -> None:
    study = pipetune.create_study(storage=storage, study_name="script")
    trial = study.ask()
    trial.log_text("".join(f"epoch {i}\n" for i in range(10)), "output.log")
    study.tell(trial, 1.0)
    sid = storage.get_study_id("script")
    assert _json(server, f"/studies/{sid}/trials/0")["has_log"] is True
    code, _, body = _get(server.url + API + f"/studies/{sid}/trials/0/log?tail=2")
    assert code == 200 and body.decode() == "epoch 8\nepoch 9\n"
    # A log_file attr names a path on the machine that ran the trial: never read here.
    other = study.ask()
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the dashboard")
    other.set_system_attr("log_file", str(secret))
    study.tell(other, 2.0)
    assert _json(server, f"/studies/{sid}/trials/1")["has_log"] is False
    error = _json(server, f"/studies/{sid}/trials/1/log", status=404)
    assert "no stored log" in error["message"] and "not for" not in error["message"]


def test_trial_metrics_and_artifacts(server: BackgroundServer,
                                     storage: InMemoryStorage) -> None:
    study = pipetune.create_study(storage=storage, study_name="tracked")

    def objective(trial: pipetune.Trial) -> float:
        for epoch in range(3):
            trial.log_metric("loss", 1.0 / (epoch + 1) + trial.number)
        trial.log_text("hello", "notes/readme.txt")
        return float(trial.number)

    study.optimize(objective, n_trials=3)
    sid = storage.get_study_id("tracked")
    detail = _json(server, f"/studies/{sid}/trials/1")
    assert detail["metric_history"] == {"loss": [[0, 2.0], [1, 1.5], [2, 1 / 3 + 1]]}
    assert detail["metrics"] == {"loss": 1 / 3 + 1}
    (artifact,) = detail["artifacts"]
    assert artifact["name"] == "notes/readme.txt" and artifact["size"] == 5
    code, headers, body = _get(server.url + API + f"/studies/{sid}/trials/1/artifacts/"
                                                  "notes/readme.txt")
    assert code == 200 and body == b"hello"
    assert 'filename="readme.txt"' in headers["content-disposition"]  # never shown inline
    assert _get(server.url + API + f"/studies/{sid}/trials/1/artifacts/nope.txt")[0] in (400, 404)
    info = _json(server, f"/studies/{sid}")
    assert info["columns"]["metrics"] == ["loss"]
    rows = _json(server, f"/studies/{sid}/trials?order_by=-metrics.loss")["rows"]
    assert [r["number"] for r in rows] == [2, 1, 0]
    assert rows[0]["metrics"] == {"loss": 1 / 3 + 2}


def test_compare_returns_the_trials_in_the_order_asked(
        server: BackgroundServer, storage: InMemoryStorage) -> None:
    _study(storage)
    sid = storage.get_study_id("demo")
    compared = _json(server, f"/studies/{sid}/compare?numbers=5,2,9")
    assert [t["number"] for t in compared["trials"]] == [5, 2, 9]
    assert all(t["intermediate_values"] for t in compared["trials"])
    error = _json(server, f"/studies/{sid}/compare?numbers=a,b", status=400)
    assert "numbers" in error["message"]


# -- plots -----------------------------------------------------------------------------------------


def test_a_plot_is_plotly_json_with_the_trials(server: BackgroundServer,
                                               storage: InMemoryStorage) -> None:
    if "optimization_history" not in plot_kinds(1):
        pytest.fail("pipetune.visualization.plot_optimization_history is missing")
    _study(storage)
    sid = storage.get_study_id("demo")
    figure = _json(server, f"/studies/{sid}/plots/optimization_history")
    assert figure["data"] and "layout" in figure
    error = _json(server, f"/studies/{sid}/plots/pie", status=400)
    assert "pie" in error["message"] and "optimization_history" in error["message"]


# -- page, assets and tokens -----------------------------------------------------------------------


def test_page_and_plotly_are_served_without_a_build_step(server: BackgroundServer,
                                                         storage: InMemoryStorage) -> None:
    code, _, page = _get(server.url + "/")
    assert code == 200 and b"static/dashboard.js" in page and b"plotly.min.js" in page
    for asset in ("dashboard.js", "dashboard.css"):
        assert _get(server.url + "/static/" + asset)[0] == 200
    code, headers, script = _get(server.url + "/static/plotly.min.js", gzip_ok=True)
    assert code == 200 and headers["content-encoding"] == "gzip"
    assert b"plotly" in gzip.decompress(script)[:2000].lower()
    assert _get(server.url + "/static/dashboard.py")[0] == 404


def test_read_token_can_view_the_dashboard_but_not_write() -> None:
    storage = InMemoryStorage()
    _study(storage, n_trials=3)
    with BackgroundServer(create_app(storage, {WRITE: "write", READ: "read"})) as server:
        assert _get(server.url + "/")[0] == 200  # the page holds no data
        error = _json(server, "/studies", status=401)
        assert "token" in error["message"]
        assert _json(server, "/studies", status=401, token="wrong")
        assert [c["study_name"] for c in _json(server, "/studies", token=READ)] == ["demo"]
        sid = storage.get_study_id("demo")
        assert _json(server, f"/studies/{sid}/trials", token=READ)["total"] == 3
        request = urllib.request.Request(
            server.url + "/api/v1/studies", method="POST",
            data=json.dumps({"study_name": "x", "directions": ["MINIMIZE"]}).encode(),
            headers={"Authorization": f"Bearer {READ}", "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(request, timeout=10)
        assert denied.value.code == 403
        assert [s.study_name for s in storage.list_studies()] == ["demo"]


# -- the command -----------------------------------------------------------------------------------


def test_dashboard_command_serves_the_storage_and_opens_a_browser(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    pipetune.create_study(storage=url, study_name="cli").optimize(_objective, n_trials=2)
    opened: list[tuple[str, bytes]] = []

    def open_browser(address: str) -> bool:
        code, _, body = _get(address.rstrip("/") + API + "/studies")
        opened.append((address, body if code == 200 else b""))
        raise KeyboardInterrupt  # the user's Ctrl-C: the command stops its server and ends

    monkeypatch.setattr("webbrowser.open", open_browser)
    args = build_parser().parse_args(["dashboard", "--storage", url, "--port", "0"])
    assert cmd_dashboard(args) == 0
    (address, body), = opened
    assert address.startswith("http://127.0.0.1:")
    assert [c["study_name"] for c in json.loads(body)] == ["cli"]
    with pytest.raises(urllib.error.URLError):  # stopped with the command
        _get(address)


def test_dashboard_command_parses_its_options() -> None:
    args = build_parser().parse_args(["dashboard", "--storage", "sqlite:///x.db",
                                      "--host", "0.0.0.0", "--port", "9000", "--no-browser"])
    assert (args.host, args.port, args.no_browser) == ("0.0.0.0", 9000, True)
