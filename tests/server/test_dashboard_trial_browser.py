"""The trial page, the compare view and the studies list in a real browser (headless Debian
Chromium driven by Playwright), on what ``pipetune tune`` and the tracking API store: a trial's
artifacts are listed one row each, images and plotly figures are previewed on demand, every one
downloads under its own name with its bytes, and an HTML artifact is never rendered; the log
shows its end; the studies list's "Started" is the study's start. A screenshot of each view is
kept under the test's tmp dir and its path printed (``pytest -s`` shows it)."""

from __future__ import annotations

import datetime as dt
import shutil
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from availability import require_installed, unavailable

require_installed("fastapi", "uvicorn", "plotly", extra="server")
require_installed("playwright", extra="test")

import plotly.graph_objects as go

import pipetune
from pipetune.server import BackgroundServer, create_app
from pipetune.storage.sql import SQLStorage

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOG_LINES = 2500  # more than the page's tail (2000): its start is not shown
HTML_ARTIFACT = b"<h1 id='pwned'>pwned</h1><script>document.title = 'pwned'</script>"


def _png(width: int, height: int) -> bytes:
    """A small RGB PNG (a colour gradient), written by hand: no imaging library needed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\0" + bytes(v for x in range(width) for v in (4 * x % 256, 4 * y % 256, 160))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = _png(64, 48)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        unavailable(f"The browser tests need {CHROMIUM} (make browser installs it).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in UTC (so the test knows how times are shown) that records console errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC",
                                  accept_downloads=True)
    opened = context.new_page()
    opened.errors = []
    opened.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda error: opened.errors.append(str(error)))
    yield opened
    context.close()


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot of the {name}: {path}")
    assert path.stat().st_size > 10_000  # a real picture, not a blank page
    return path


def _objective(trial: pipetune.Trial, folder: Path) -> float:
    """A trial as ``pipetune tune`` leaves one (its log as ``output.log``) that also stored a
    picture, a plotly figure and an HTML report."""
    x = trial.suggest_float("x", -3.0, 3.0)
    layers = trial.suggest_int("layers", 1, 4)
    trial.log_text("".join(f"trial {trial.number} line {i}\n" for i in range(LOG_LINES)),
                   "output.log")
    if trial.number == 0:
        image = folder / "chart.png"
        image.write_bytes(PNG)
        trial.log_artifact(str(image), "figures/chart.png")
        curve = go.Figure(go.Scatter(x=[1, 2, 3], y=[3.0, 1.5, 1.0], name="loss"))
        trial.log_figure(curve, "curve")
        report = folder / "report.html"
        report.write_bytes(HTML_ARTIFACT)
        trial.log_artifact(str(report))
    return (x - 1) ** 2 + layers


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> SQLStorage:
    folder = tmp_path_factory.mktemp("trial-page")
    url = f"sqlite:///{folder / 'study.db'}"
    study = pipetune.create_study(storage=url, study_name="tracked",
                                  sampler=pipetune.samplers.RandomSampler(seed=5))
    time.sleep(1.1)  # the study's start and its first trial's end now differ in the seconds shown
    study.optimize(lambda trial: _objective(trial, folder), n_trials=4)
    return SQLStorage(url)


def _utc(moment: dt.datetime) -> str:
    """A storage time as the page shows it in a UTC browser."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _artifact_rows(page: Any) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#trial-artifacts tr[data-artifact]",
        "rows => rows.map(r => [...r.cells].slice(0, 3).map(c => c.textContent))")


def test_trial_page_lists_previews_and_downloads_its_artifacts(
        page: Any, storage: SQLStorage, tmp_path: Path) -> None:
    sid = storage.get_study_id("tracked")
    stored = pipetune.load_study(study_name="tracked", storage=storage).list_artifacts(0)
    with BackgroundServer(create_app(storage)) as server:
        page.goto(server.url + f"/#/studies/{sid}/trials/0")
        page.wait_for_selector("#trial-artifacts tr[data-artifact]")
        rows = _artifact_rows(page)
        assert sorted(name for name, _, _ in rows) == sorted(a.name for a in stored)
        kinds = {name: kind for name, kind, _ in rows}
        assert kinds == {"output.log": "text/plain", "figures/chart.png": "image/png",
                         "curve.json": "application/vnd.plotly.v1+json",
                         "report.html": "text/html"}
        assert "object" not in page.inner_text("#trial-artifacts")
        shown_sizes = {name: size for name, _, size in rows}
        assert shown_sizes["report.html"] == f"{len(HTML_ARTIFACT)} B"
        assert shown_sizes["figures/chart.png"] == f"{round(len(PNG) / 1024, 1)} KB"

        png_row = "#trial-artifacts tr[data-artifact='figures/chart.png']"
        page.click(f"{png_row} button.show")
        image = page.wait_for_selector("#trial-artifacts .artifact-preview img")
        page.wait_for_function("img => img.complete && img.naturalWidth === 64", arg=image)
        page.click("#trial-artifacts tr[data-artifact='curve.json'] button.show")
        page.wait_for_function(
            "() => document.querySelector('#trial-artifacts .artifact-preview .main-svg')")
        assert page.evaluate("() => document.querySelector('#trial-artifacts .artifact-preview "
                             ".plot')._fullData[0].y.length") == 3

        # HTML: no preview button, never turned into a page element, downloaded as a file
        html_row = "#trial-artifacts tr[data-artifact='report.html']"
        assert page.query_selector(f"{html_row} button.show") is None
        for name, row, content in (("chart.png", png_row, PNG),
                                   ("report.html", html_row, HTML_ARTIFACT)):
            with page.expect_download() as started:
                page.click(f"{row} button.download")
            download = started.value
            assert download.suggested_filename == name
            assert Path(download.path()).read_bytes() == content
        assert page.query_selector("#pwned, iframe") is None and page.title() != "pwned"

        log = page.wait_for_function(
            "() => { const log = document.querySelector('#trial-log');"
            "        return log.textContent !== 'Loading…' && log; }").as_element()
        text = log.text_content()
        assert text.endswith(f"trial 0 line {LOG_LINES - 1}\n")
        assert "trial 0 line 0\n" not in text  # the tail only
        assert page.evaluate("log => log.scrollTop + log.clientHeight >= log.scrollHeight - 2",
                             log)  # scrolled to its end
        _shot(page, tmp_path, "trial-page")
        page.close()  # before the server stops
    assert page.errors == []


def test_compare_shows_the_ticked_trials_side_by_side(
        page: Any, storage: SQLStorage, tmp_path: Path) -> None:
    study = pipetune.load_study(study_name="tracked", storage=storage)
    with BackgroundServer(create_app(storage)) as server:
        page.goto(server.url + f"/#/studies/{storage.get_study_id('tracked')}")
        page.wait_for_selector("#trials-table tbody tr")
        assert page.is_disabled("#compare")
        for number in (1, 2, 3):
            page.check(f"#trials-table input[aria-label='select trial {number}']")
        page.click("#compare")
        page.wait_for_selector("#compare-table")
        table = page.eval_on_selector_all(
            "#compare-table tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
        rows = {cells[0]: cells[1:] for cells in table}
        assert rows[""] == ["trial #1", "trial #2", "trial #3"]
        trials = [study.trials[n] for n in (1, 2, 3)]
        assert rows["params.layers"] == [str(t.params["layers"]) for t in trials]
        shown_x = [float(x) for x in rows["params.x"]]
        assert shown_x == pytest.approx([t.params["x"] for t in trials], rel=1e-5)
        assert [float(v) for v in rows["value"]] == pytest.approx([t.value for t in trials],
                                                                  rel=1e-5)
        assert rows["state"] == ["complete"] * 3
        _shot(page, tmp_path, "compare-view")
        page.close()
    assert page.errors == []


def test_started_is_the_study_start_not_its_first_trial_end(
        page: Any, storage: SQLStorage, tmp_path: Path) -> None:
    (summary,) = storage.list_studies()
    first_trial = pipetune.load_study(study_name="tracked", storage=storage).trials[0]
    assert _utc(summary.datetime_start) != _utc(first_trial.datetime_complete)
    with BackgroundServer(create_app(storage)) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("table.studies tbody tr")
        headers = page.eval_on_selector_all("table.studies th", "hs => hs.map(h => h.textContent)")
        started = page.eval_on_selector(
            "table.studies tbody tr", f"row => row.cells[{headers.index('Started')}].textContent")
        assert started == _utc(summary.datetime_start)
        _shot(page, tmp_path, "studies-list")
        page.click("a:text-is('tracked')")
        page.wait_for_selector("#study-times")
        assert f"Started {_utc(summary.datetime_start)}" in page.inner_text("#study-times")
        page.close()
    assert page.errors == []
