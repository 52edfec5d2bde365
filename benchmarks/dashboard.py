"""Dashboard speed on a big study: pipetune's dashboard against optuna-dashboard, same trials.

One study of ``--trials`` trials (default 10,000; the 6-parameter space of ``_common``, random
params, 3 intermediate values each) is run by pipetune into a SQLite file and copied trial by
trial into an Optuna RDB SQLite file, so both dashboards show the same data. Each dashboard is
served on 127.0.0.1 by a thread of this process (pipetune: ``BackgroundServer``; optuna-dashboard:
its WSGI app under a threading ``wsgiref`` server) and measured the same way:

- API: the JSON requests each study page makes, timed from this process (gzip accepted).
  pipetune's page asks for the study card, the first table page (50 rows) and the history
  figure; optuna-dashboard's asks for ``/api/meta``, the study with all its trials and the
  param importances. *cold* is the first pass on a freshly built app (the trials are read from
  the database); *warm* is the median of ``--repeat`` later passes.
- Render: headless Debian Chromium opens the page and waits for the first table row (pipetune:
  the trials table of the study page; optuna-dashboard: its trial list) and, separately, for
  a plotly chart to show data (pipetune's history; any of optuna-dashboard's charts). Each
  load is a fresh browser context (nothing cached, so plotly.js is fetched and compiled every
  time); *cold* on a fresh app, *warm* the median of 3 later loads.

Run: ``.venv/bin/python benchmarks/dashboard.py`` (``--trials 2000`` for a quick look). Needs the
``bench`` extra (optuna, optuna-dashboard), playwright and ``/usr/bin/chromium``. Timings on a
shared machine are noisy: read the ratios, and rerun before trusting a small difference.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    SPACE,
    add_exit_flag,
    exit_status,
    quiet_logging,
    score,
    suggest_all,
    table,
    versions,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STUDY = "dashboard"
STEPS = 3


# -- the study -------------------------------------------------------------------------------------


def _objective(trial: Any) -> float:
    params = suggest_all(trial)
    value = score(params)
    for step in range(STEPS):
        trial.report(value + (STEPS - step) * 0.1, step)
    return value


def build_studies(directory: Path, n_trials: int, seed: int) -> None:
    """Runs the pipetune study into ``directory/pipetune.db`` and copies its trials into an
    Optuna study in ``directory/optuna.db``."""
    import optuna
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    import pipetune

    pipetune_url = f"sqlite:///{directory / 'pipetune.db'}"
    optuna_url = f"sqlite:///{directory / 'optuna.db'}"
    study = pipetune.create_study(storage=pipetune_url, study_name=STUDY,
                                  sampler=pipetune.samplers.RandomSampler(seed=seed))
    study.optimize(_objective, n_trials=n_trials)
    distributions: dict[str, Any] = {}
    for p in SPACE:
        if p.kind == "float":
            distributions[p.name] = FloatDistribution(p.low, p.high, log=p.log)
        elif p.kind == "int":
            distributions[p.name] = IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            distributions[p.name] = CategoricalDistribution(list(p.choices))
    copy = optuna.create_study(storage=optuna_url, study_name=STUDY)
    copy.add_trials([
        optuna.trial.create_trial(params=t.params, distributions=distributions, value=t.value,
                                  intermediate_values=dict(t.intermediate_values))
        for t in study.trials])


# -- serving -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    """How to serve and measure one dashboard: ``serve(url)`` is a context manager yielding
    the base address of a freshly built app; the paths are those of its study page."""

    name: str
    serve: Callable[[str], Any]
    study_id: Callable[[str], int]
    api_paths: Callable[[int], list[str]]
    table_page: Callable[[int], str]
    table_row: str
    plot_page: Callable[[int], str]


# A plotly chart has drawn data: its decoded traces hold points and its SVG layer exists (the
# history of 10,000 trials may be WebGL, so there are no SVG points to wait for).
PLOT_DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')].some(chart =>
    chart._fullData && chart.querySelector('.main-svg')
    && chart._fullData.some(trace => trace.x && trace.x.length > 0))"""


@contextmanager
def _serve_pipetune(url: str) -> Iterator[str]:
    from pipetune.server import BackgroundServer, create_app
    from pipetune.storage import get_storage

    with BackgroundServer(create_app(get_storage(url))) as server:
        yield server.url


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _serve_optuna(url: str) -> Iterator[str]:
    import optuna_dashboard

    server = make_server("127.0.0.1", 0, optuna_dashboard.wsgi(url),
                         server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _pipetune_study_id(url: str) -> int:
    from pipetune.storage import get_storage

    return get_storage(url).get_study_id(STUDY)


def _optuna_study_id(url: str) -> int:
    import optuna

    return optuna.load_study(study_name=STUDY, storage=url)._study_id


PIPETUNE = Dashboard(
    "pipetune", _serve_pipetune, _pipetune_study_id,
    lambda sid: [f"/api/v1/dashboard/studies/{sid}",
                 f"/api/v1/dashboard/studies/{sid}/trials?limit=50&offset=0",
                 f"/api/v1/dashboard/studies/{sid}/plots/optimization_history"],
    lambda sid: f"/#/studies/{sid}", "#trials-table tbody tr", lambda sid: f"/#/studies/{sid}")
OPTUNA = Dashboard(
    "optuna-dashboard", _serve_optuna, _optuna_study_id,
    lambda sid: ["/api/meta", f"/api/studies/{sid}?after=0",
                 f"/api/studies/{sid}/param_importances"],
    lambda sid: f"/dashboard/studies/{sid}/trials", ".MuiListItemButton-root",
    lambda sid: f"/dashboard/studies/{sid}")


# -- measuring ---------------------------------------------------------------------------------


def _fetch(url: str) -> int:
    """GETs ``url`` as a browser would (gzip accepted); returns the decoded body's size."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    return len(body)


def _api_pass(base: str, paths: list[str]) -> list[float]:
    times = []
    for path in paths:
        start = time.perf_counter()
        _fetch(base + path)
        times.append(time.perf_counter() - start)
    return times


def _render(browser: Any, address: str, selector: str | None, timeout: float
            ) -> float | None:
    """Seconds from opening ``address`` in a new page (a fresh browser context: nothing
    cached) to ``selector`` being visible, or with None to a plotly chart showing data; None
    when that takes more than ``timeout`` seconds."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        start = time.perf_counter()
        page.goto(address, wait_until="commit", timeout=timeout * 1000)
        if selector is None:
            page.wait_for_function(PLOT_DRAWN, timeout=timeout * 1000, polling=50)
        else:
            page.wait_for_selector(selector, timeout=timeout * 1000)
        return time.perf_counter() - start
    except PlaywrightTimeout:
        return None
    finally:
        page.close()


def _renders(browser: Any, address: str, selector: str | None, timeout: float
             ) -> tuple[float | None, float | None]:
    """A cold load (the app's first), then the median of 3 warm ones (skipped when the cold
    one timed out: they would too, and each costs the whole timeout)."""
    cold = _render(browser, address, selector, timeout)
    if cold is None:
        return None, None
    warm = [_render(browser, address, selector, timeout) for _ in range(3)]
    return cold, (None if None in warm else statistics.median(warm))


@dataclass(frozen=True)
class Result:
    """Seconds; a render is None when it timed out."""

    api_cold: list[float]
    api_warm: list[float]
    table_cold: float | None
    table_warm: float | None
    plot_cold: float | None
    plot_warm: float | None


def measure(dashboard: Dashboard, url: str, browser: Any, repeat: int, timeout: float
            ) -> Result:
    sid = dashboard.study_id(url)
    paths = dashboard.api_paths(sid)
    with dashboard.serve(url) as base:
        api_cold = _api_pass(base, paths)
        passes = [_api_pass(base, paths) for _ in range(repeat)]
        api_warm = [statistics.median(column) for column in zip(*passes)]
    with dashboard.serve(url) as base:
        table = _renders(browser, base + dashboard.table_page(sid), dashboard.table_row, timeout)
    with dashboard.serve(url) as base:
        plot = _renders(browser, base + dashboard.plot_page(sid), None, timeout)
    return Result(api_cold, api_warm, *table, *plot)


def _ms(seconds: float | None, timeout: float = 0.0) -> str:
    return f"> {timeout * 1000:.0f}" if seconds is None else f"{seconds * 1000:.0f}"


def _ratio(ours: float | None, theirs: float | None, timeout: float) -> str:
    """theirs / ours; a bound when theirs timed out."""
    if ours is None or ours <= 0:
        return "-"
    return f"> {timeout / ours:.1f}" if theirs is None else f"{theirs / ours:.2f}"


def report(ours: Result, theirs: Result, timeout: float) -> str:
    rows = []
    for label, a, b in (
            ("study page API, cold (sum of calls)", sum(ours.api_cold), sum(theirs.api_cold)),
            ("study page API, warm (sum of calls)", sum(ours.api_warm), sum(theirs.api_warm)),
            ("first table row, cold", ours.table_cold, theirs.table_cold),
            ("first table row, warm", ours.table_warm, theirs.table_warm),
            ("history plot points, cold", ours.plot_cold, theirs.plot_cold),
            ("history plot points, warm", ours.plot_warm, theirs.plot_warm)):
        rows.append([label, _ms(a, timeout), _ms(b, timeout), _ratio(a, b, timeout)])
    return table(["measure", "pipetune ms", "optuna-dashboard ms",
                  "ratio (optuna-dashboard/pipetune)"], rows)


def _calls(dashboard: Dashboard, sid: int, result: Result) -> str:
    rows = [[path, _ms(cold), _ms(warm)] for path, cold, warm in
            zip(dashboard.api_paths(sid), result.api_cold, result.api_warm)]
    return table([f"{dashboard.name} call", "cold ms", "warm ms"], rows)


def targets_hold(ours: Result) -> bool:
    """Prints pipetune's targets at 10,000 trials and whether they hold: the study page's API
    under 1 s and its rendered table under 2 s, cold and warm."""
    checks = [("study page API, cold, under 1 s", sum(ours.api_cold), 1.0),
              ("study page API, warm, under 1 s", sum(ours.api_warm), 1.0),
              ("first table row, cold, under 2 s", ours.table_cold, 2.0),
              ("first table row, warm, under 2 s", ours.table_warm, 2.0)]
    held = [seconds is not None and seconds < limit for _, seconds, limit in checks]
    for (what, seconds, _), ok in zip(checks, held):
        print(f"[{'PASS' if ok else 'FAIL'}] pipetune {what}: {_ms(seconds)} ms")
    return all(held)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="warm API passes (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds a page may take to render before it counts as timed out")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the two databases here and reuse them on the next run with "
                             "the same --trials (building the Optuna copy takes minutes)")
    add_exit_flag(parser)
    args = parser.parse_args()
    quiet_logging()
    from playwright.sync_api import sync_playwright

    print("versions:", versions(("pipetune", "optuna", "optuna-dashboard", "plotly")))
    # The databases live in memory-backed /dev/shm where there is one: building the Optuna
    # copy commits once per trial, and the timings are about the dashboards, not the disk.
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=shm) as scratch:
        directory = args.workdir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        stamp = directory / f"built-{args.trials}-{args.seed}"
        pipetune_url = f"sqlite:///{directory / 'pipetune.db'}"
        optuna_url = f"sqlite:///{directory / 'optuna.db'}"
        if not stamp.exists():
            for name in ("pipetune.db", "optuna.db", *(p.name for p in directory.glob("built-*"))):
                (directory / name).unlink(missing_ok=True)
            start = time.perf_counter()
            build_studies(directory, args.trials, args.seed)
            stamp.touch()
            print(f"built the {args.trials}-trial studies in {time.perf_counter() - start:.0f} s")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                browser.new_page().close()  # Chromium's own start-up is not the dashboards'
                ours = measure(PIPETUNE, pipetune_url, browser, args.repeat, args.timeout)
                print()
                print(_calls(PIPETUNE, PIPETUNE.study_id(pipetune_url), ours), flush=True)
                theirs = measure(OPTUNA, optuna_url, browser, args.repeat, args.timeout)
                print()
                print(_calls(OPTUNA, OPTUNA.study_id(optuna_url), theirs))
            finally:
                browser.close()
        print()
        print(report(ours, theirs, args.timeout))
        print(f"\n'> {args.timeout * 1000:.0f}': not rendered within --timeout. Targets "
              "(pipetune, 10,000 trials): API under 1 s, rendered table under 2 s.")
        return exit_status(targets_hold(ours), args)


if __name__ == "__main__":
    sys.exit(main())
