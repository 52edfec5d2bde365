"""The web dashboard of ``pipetune server``: the page at ``/`` and the JSON it reads.

The page is hand-written HTML, CSS and JavaScript shipped in ``pipetune/server/static/`` (no
build step); plotly.js comes from the installed ``plotly`` package. Everything the page shows
comes from the read-only routes under ``/api/v1/dashboard``; they need a read token whenever
the server has tokens (the page asks for one, see ``static/dashboard.js``; the server's door
checks it, see ``pipetune.server.app``), while the page and its scripts hold no data and stay
open.

Routes (``{sid}`` a study id, ``{number}`` a trial number in it):

=============================================================  ===================================
``GET /api/v1/dashboard/studies``                              every study: state, counts, best
``GET /api/v1/dashboard/studies/{sid}``                        one study: card, best trial, columns
``GET /api/v1/dashboard/studies/{sid}/trials``                 one ordered, filtered page of rows
``GET /api/v1/dashboard/studies/{sid}/trials.csv``             the same rows, all of them, as CSV
``GET /api/v1/dashboard/studies/{sid}/plots/{kind}``           a plotly figure as JSON
``GET /api/v1/dashboard/studies/{sid}/trials/{number}``        one trial in full
``GET /api/v1/dashboard/studies/{sid}/trials/{number}/log``    its stored output (text tail)
``GET .../trials/{number}/artifacts/{name}``                   one stored artifact, as a download
``GET /api/v1/dashboard/studies/{sid}/compare?numbers=1,2``    several trials in full
=============================================================  ===================================

The table's ``filter`` and ``order_by`` are the trial search language of
``pipetune.search`` (``Study.search``'s), evaluated over the cached history: SQL's
``Study.search`` would re-read every matching trial from the database on each request.

Each study is read through one cached ``Study`` handle per server, whose history is
incremental (``storage/cached.py``): after the first request a refresh costs what changed,
so a 10,000-trial study pages, sorts and filters in memory without re-reading it.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import importlib
import importlib.resources
import inspect
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from pipetune._attrs import KIND_ATTR, PARENT_ATTR, experiment_of
from pipetune.datatypes import FrozenTrial, StudySummary, TrialState
from pipetune.errors import InvalidArgumentError, TrialNotFoundError
from pipetune.search import check_params, search
from pipetune.server.dashboard_views import (
    csv_of,
    names_of,
    plain,
    study_card,
    study_version,
    table_row,
    trial_detail,
)
from pipetune.server.tracking_routes import download_headers
from pipetune.storage.base import BaseStorage
from pipetune.storage.remote import API
from pipetune.study import Study
from pipetune.tracking.logs import LOG_ARTIFACT, stored_log

__all__ = ["PLOT_KINDS", "dashboard_router", "plot_kinds"]

STATIC = Path(__file__).parent / "static"
DASHBOARD_API = API + "/dashboard"
# The figures of pipetune.visualization the study page offers, each ``plot_<kind>``.
PLOT_KINDS = ("optimization_history", "parallel_coordinate", "param_importances", "slice",
              "contour", "intermediate_values", "edf", "timeline", "rank", "pareto_front")
_MAX_PAGE = 1000
_MAX_COMPARED = 20
_GZIP_ABOVE = 1024  # bytes; smaller bodies are not worth compressing
_PLOT_CACHE_SIZE = 64


def _compressed(request: Request, body: bytes, media_type: str,
                headers: dict[str, str] | None = None) -> Response:
    """``body`` gzipped when the client accepts it and it is big enough to matter (a 10,000-
    trial table or figure shrinks several times)."""
    headers = dict(headers or {})
    if len(body) > _GZIP_ABOVE and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    return Response(body, media_type=media_type, headers=headers)


def _json(request: Request, payload: Any) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _compressed(request, body.encode(), "application/json")


class _StudyHandles:
    """One ``Study`` per stored study, kept across requests so its history stays cached, and
    each study's creation time (it never changes; the storage tells it only in
    ``list_studies``); all are dropped when the app's storage is swapped, and a handle is
    rebuilt when its id now names another study (a deleted study's id reused)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._storage: BaseStorage | None = None
        self._studies: dict[int, Study] = {}
        self._created: dict[tuple[int, str], dt.datetime | None] = {}

    def _use(self, storage: BaseStorage) -> None:
        """Forgets what belongs to a storage the app no longer serves (under the lock)."""
        if storage is not self._storage:
            self._studies.clear()
            self._created.clear()
            self._storage = storage

    def get(self, storage: BaseStorage, study_id: int, study_name: str | None = None) -> Study:
        name = study_name or storage.get_study_name(study_id)  # StudyNotFoundError -> 404
        with self._lock:
            self._use(storage)
            study = self._studies.get(study_id)
            if study is None or study.study_name != name:
                study = self._studies[study_id] = Study(name, storage)
        return study

    def remember_created(self, storage: BaseStorage, summaries: list[StudySummary]) -> None:
        """Keeps the creation times ``storage.list_studies()`` gave."""
        with self._lock:
            self._use(storage)
            self._created.update(
                {(s.study_id, s.study_name): s.datetime_start for s in summaries})

    def created(self, storage: BaseStorage, study_id: int, study_name: str
                ) -> dt.datetime | None:
        """When the study was created, None where the storage records no time: listed once,
        then remembered."""
        key = (study_id, study_name)
        with self._lock:
            self._use(storage)
            if key in self._created:
                return self._created[key]
        self.remember_created(storage, storage.list_studies())
        return self._created.get(key)


class _PlotCache:
    """Recently built figures as JSON, keyed by study, kind, params and the study's version:
    a page polling a study that has not changed gets the figure without recomputing it."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._figures: OrderedDict[tuple, bytes] = OrderedDict()

    def get(self, key: tuple, build: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._figures:
                self._figures.move_to_end(key)
                return self._figures[key]
        figure = build()
        with self._lock:
            self._figures[key] = figure
            while len(self._figures) > self._size:
                self._figures.popitem(last=False)
        return figure


def _parse_numbers(numbers: str) -> list[int]:
    try:
        parsed = [int(n) for n in numbers.split(",") if n.strip()]
    except ValueError:
        parsed = []
    if not 1 <= len(parsed) <= _MAX_COMPARED:
        raise InvalidArgumentError(
            f"'numbers' must be a comma-separated list of 1 to {_MAX_COMPARED} trial numbers, "
            f"e.g. numbers=3,7. Got {numbers!r}.")
    return parsed


def _parse_states(states: str | None) -> set[TrialState] | None:
    if not states:
        return None
    return {TrialState.parse(s) for s in states.split(",") if s.strip()}


def _matching(study: Study, filter: str | None, order_by: str | None, states: str | None
              ) -> tuple[list[FrozenTrial], dict[int, dict[str, float]]]:
    """The study's trials matching ``filter`` and one of ``states`` (comma-separated), ordered
    by ``order_by``, with the last metric values by trial number. A malformed filter, or one
    naming a param the study lacks, raises FilterSyntaxError (a 400 whose message points at
    the mistake)."""
    trials = study.trials
    check_params(filter or None, order_by or None, {name for t in trials for name in t.params})
    metrics = study.last_metrics()
    by_id = {t.trial_id: metrics[t.number] for t in trials if t.number in metrics}
    found = search(trials, by_id, filter or None, order_by or None)
    wanted = _parse_states(states)
    if wanted is not None:
        found = [t for t in found if t.state in wanted]
    return found, metrics


def _plotly_version() -> str:
    """The installed ``plotly`` package's version (the script URL's cache buster); raises
    MissingDependencyError without it."""
    from pipetune._imports import require

    return require("plotly", "server").__version__


@functools.lru_cache(maxsize=1)
def _plotly_js() -> tuple[bytes, bytes]:
    """plotly.js from the installed ``plotly`` package, plain and gzipped (about 4.8 MB and
    1.4 MB; compressed once per process, on the first request for it)."""
    from pipetune._imports import require

    plotly = require("plotly", "server")
    script = (importlib.resources.files(plotly) / "package_data" / "plotly.min.js").read_bytes()
    return script, gzip.compress(script, compresslevel=6)


def _visualization() -> Any:
    """``pipetune.visualization``, or None where this pipetune (or its plotly) lacks it."""
    try:
        return importlib.import_module("pipetune.visualization")
    except ImportError:
        return None


def plot_kinds(n_objectives: int) -> list[str]:
    """The plots the study page offers: those this pipetune has, the Pareto front only for
    several objectives."""
    visualization = _visualization()
    return [kind for kind in PLOT_KINDS
            if hasattr(visualization, f"plot_{kind}")
            and (kind != "pareto_front" or n_objectives > 1)]


def _takes_params(kind: str) -> bool:
    plot = getattr(_visualization(), f"plot_{kind}", None)
    return plot is not None and "params" in inspect.signature(plot).parameters


def _figure_json(study: Study, kind: str, params: list[str] | None) -> bytes:
    plot = getattr(_visualization(), f"plot_{kind}", None)
    if plot is None:
        raise NotImplementedError(f"This pipetune has no plot_{kind} yet.")
    kwargs: dict[str, Any] = {}
    if params and _takes_params(kind):
        kwargs["params"] = params
    return plot(study, **kwargs).to_json().encode()


def dashboard_router(storage: Callable[[], BaseStorage]) -> APIRouter:
    """The dashboard's page, assets and JSON routes over the storage ``storage()`` returns
    (the server's door checks the tokens before any of them runs)."""
    router = APIRouter()
    handles = _StudyHandles()
    plots = _PlotCache(_PLOT_CACHE_SIZE)
    api: dict[str, Any] = {"response_model": None}

    def study_of(study_id: int) -> Study:
        return handles.get(storage(), study_id)

    def card(summary_or_id: StudySummary | int, with_best_params: bool = False
             ) -> dict[str, Any]:
        if isinstance(summary_or_id, StudySummary):
            study_id, attrs = summary_or_id.study_id, summary_or_id.system_attrs
            study = handles.get(storage(), study_id, summary_or_id.study_name)
            created = summary_or_id.datetime_start
        else:
            study_id = summary_or_id
            study = study_of(study_id)
            attrs = study.system_attrs
            created = handles.created(storage(), study_id, study.study_name)
        info = study_card(study_id, study.study_name, study.directions, study.trials,
                          experiment_of(attrs), created, with_best_params=with_best_params)
        info["kind"] = attrs.get(KIND_ATTR, "study")
        info["parent"] = attrs.get(PARENT_ATTR)  # the study a run re-runs, listed under it
        return info

    def detail(study: Study, study_id: int, trial: FrozenTrial) -> dict[str, Any]:
        return trial_detail(trial, study_id, study.study_name, study.directions,
                            study.metric_history(trial))

    def trial_of(study: Study, number: int) -> FrozenTrial:
        trials = study.trials
        if 0 <= number < len(trials) and trials[number].number == number:
            return trials[number]
        found = next((t for t in trials if t.number == number), None)
        if found is None:
            raise TrialNotFoundError(f"Study {study.study_name!r} has no trial {number}.")
        return found

    # -- page and assets (open: they hold no data) ---------------------------------------------

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        # dashboard.js loads plotly.js itself when it first draws a plot, after the tables: 4.8
        # MB of script would hold the first render back. Without plotly the page shows the
        # tables and says what is missing in the plot panels.
        try:
            source = f"static/plotly.min.js?v={_plotly_version()}"
        except ImportError:
            source = ""
        return HTMLResponse(html.replace("{{plotly_src}}", source),
                            headers={"Cache-Control": "no-cache"})

    @router.get("/static/dashboard.{suffix}", include_in_schema=False)
    def asset(suffix: str) -> Response:
        types = {"js": "text/javascript", "css": "text/css"}
        if suffix not in types:
            return Response("Not found", status_code=404, media_type="text/plain")
        return Response((STATIC / f"dashboard.{suffix}").read_bytes(), media_type=types[suffix],
                        headers={"Cache-Control": "no-cache"})

    @router.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js(request: Request) -> Response:
        script, zipped = _plotly_js()
        headers = {"Cache-Control": "public, max-age=604800", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(zipped, media_type="text/javascript", headers=headers)
        return Response(script, media_type="text/javascript", headers=headers)

    # -- JSON ----------------------------------------------------------------------------------

    @router.get(DASHBOARD_API + "/studies", **api)
    def list_studies(request: Request) -> Response:
        """Every study with its experiment, state, trial counts, best trial and activity."""
        serving = storage()
        summaries = serving.list_studies()
        handles.remember_created(serving, summaries)
        return _json(request, [card(s) for s in summaries])

    @router.get(DASHBOARD_API + "/studies/{study_id}", **api)
    def get_study(request: Request, study_id: int) -> Response:
        """One study's card with its best trial's params, its table columns and plot kinds."""
        study = study_of(study_id)
        info = card(study_id, with_best_params=True)
        kinds = plot_kinds(len(study.directions))
        info.update(columns=names_of(study.trials, study.last_metrics()), plot_kinds=kinds,
                    plots_with_params=[kind for kind in kinds if _takes_params(kind)],
                    user_attrs=plain(study.user_attrs))
        return _json(request, info)

    @router.get(DASHBOARD_API + "/studies/{study_id}/trials", **api)
    def trial_rows(request: Request, study_id: int, filter: str | None = None,
                   order_by: str | None = None, states: str | None = None,
                   limit: int = Query(50, ge=1, le=_MAX_PAGE), offset: int = Query(0, ge=0)
                   ) -> Response:
        """One page of the trials table: those matching ``filter`` and ``states``
        (comma-separated), ordered by ``order_by`` (the search language's, e.g.
        ``-params.lr, number``; default: number)."""
        matching, metrics = _matching(study_of(study_id), filter, order_by, states)
        return _json(request, {
            "total": len(matching), "offset": offset, "limit": limit,
            "rows": [table_row(t, metrics) for t in matching[offset:offset + limit]]})

    @router.get(DASHBOARD_API + "/studies/{study_id}/trials.csv", **api)
    def trials_csv(request: Request, study_id: int, filter: str | None = None,
                   order_by: str | None = None, states: str | None = None) -> Response:
        """Every trial the table shows (all pages), as CSV."""
        study = study_of(study_id)
        matching, metrics = _matching(study, filter, order_by, states)
        return _compressed(request, csv_of(matching, study.directions, metrics).encode(),
                           "text/csv", download_headers(f"{study.study_name}-trials.csv"))

    @router.get(DASHBOARD_API + "/studies/{study_id}/plots/{kind}", **api)
    def plot(request: Request, study_id: int, kind: str, params: str | None = None
             ) -> Response:
        """``pipetune.visualization.plot_<kind>`` of the study as plotly JSON (``params``:
        comma-separated names, for the plots that take them)."""
        if kind not in PLOT_KINDS:
            raise InvalidArgumentError(
                f"Unknown plot {kind!r}: choose one of {', '.join(PLOT_KINDS)}.")
        study = study_of(study_id)
        names = [p for p in (params or "").split(",") if p.strip()] or None
        version = study_version(study.trials)
        key = (id(storage()), study_id, study.study_name, kind, tuple(names or ()), version)
        figure = plots.get(key, lambda: _figure_json(study, kind, names))
        return _compressed(request, figure, "application/json")

    @router.get(DASHBOARD_API + "/studies/{study_id}/trials/{number}", **api)
    def get_trial(request: Request, study_id: int, number: int) -> Response:
        """One trial: params with their distributions, values, attrs, intermediate values."""
        study = study_of(study_id)
        trial = trial_of(study, number)
        info = detail(study, study_id, trial)
        artifacts = study.list_artifacts(trial)
        info["has_log"] = any(a.name == LOG_ARTIFACT for a in artifacts)
        info["artifacts"] = [{"name": a.name, "size": a.size, "media_type": a.media_type,
                              "created_at": plain(a.created_at)} for a in artifacts]
        return _json(request, info)

    @router.get(DASHBOARD_API + "/studies/{study_id}/trials/{number}/log", **api)
    def trial_log(request: Request, study_id: int, number: int,
                  tail: int = Query(2000, ge=1, le=100_000)) -> Response:
        """The last ``tail`` lines of the output of the trial's process (``pipetune tune``), from
        its stored log (``stored_log``: a bounded read of the artifact's end)."""
        study = study_of(study_id)
        text = stored_log(study, trial_of(study, number), tail)
        return _compressed(request, text.encode(), "text/plain; charset=utf-8")

    @router.get(DASHBOARD_API + "/studies/{study_id}/compare", **api)
    def compare(request: Request, study_id: int, numbers: str) -> Response:
        """Several trials of the study in full, side by side (``numbers=3,7,12``)."""
        study = study_of(study_id)
        trials = [trial_of(study, n) for n in _parse_numbers(numbers)]
        return _json(request, {
            "study_id": study_id, "study_name": study.study_name,
            "directions": [d.name.lower() for d in study.directions],
            "trials": [detail(study, study_id, t) for t in trials]})

    @router.get(DASHBOARD_API + "/studies/{study_id}/trials/{number}/artifacts/{name:path}",
                **api)
    def artifact(study_id: int, number: int, name: str) -> Response:
        """A stored artifact of the trial, always as a download: an HTML or SVG file a run
        wrote must not run as a page of the dashboard (it could read the token)."""
        data = study_of(study_id).read_artifact(number, name)
        return Response(data, media_type="application/octet-stream",
                        headers=download_headers(name.rsplit("/", 1)[-1]))

    return router
