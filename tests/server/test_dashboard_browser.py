"""The dashboard in a real browser: headless Debian Chromium driven by Playwright.

A SQLite study is served by ``BackgroundServer`` on 127.0.0.1 (a free port); each test clicks
through the page as a person would, saves screenshots under its tmp dir and fails on any
console error. Without Chromium or Playwright the tests skip, except under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from availability import require_installed

require_installed("fastapi", "uvicorn", extra="server")

import pipetune
from pipetune.server import BackgroundServer, create_app
from pipetune.storage.sql import SQLStorage

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
READ = "r-browser"
N_TRIALS = 24


def _playwright() -> Any:
    """Playwright's sync API, or a skip (a failure under CI) when it or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = ("playwright" if sync_playwright is None
               else CHROMIUM if not shutil.which(CHROMIUM) else None)
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"The browser tests need {missing} (make test installs both).")
        pytest.skip(f"{missing} is missing: install it (make browser) to run the browser tests")
    return sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with _playwright()() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _objective(trial: pipetune.Trial) -> float:
    x = trial.suggest_float("x", -4.0, 4.0)
    kind = trial.suggest_categorical("kind", ["conv", "dense"])
    for epoch in range(4):
        trial.report(x * x + 4 - epoch, epoch)
        trial.log_metric("val_loss", x * x / (epoch + 1))
    trial.set_user_attr("tag", "even" if trial.number % 2 == 0 else "odd")
    return x * x + (kind == "dense")


@pytest.fixture(scope="module")
def study_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'study.db'}"
    study = pipetune.create_study(storage=url, study_name="taxi", experiment="dc-taxi",
                                  sampler=pipetune.samplers.RandomSampler(seed=3))
    study.optimize(_objective, n_trials=N_TRIALS)
    return url


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh page that records console errors; the test asserts there are none."""
    opened = browser.new_page(viewport={"width": 1280, "height": 900})
    opened.errors = []
    opened.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda error: opened.errors.append(str(error)))
    yield opened
    opened.close()


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a real picture, not a blank page
    return path


def _plotted_points(page: Any, selector: str) -> int:
    """How many x values the plotly chart at ``selector`` has drawn (0 before it is drawn)."""
    return page.evaluate(
        """selector => {
             const chart = document.querySelector(selector);
             if (!chart || !chart._fullData || !chart.querySelector('.main-svg')) return 0;
             // _fullData holds the decoded traces (plotly.py may send typed arrays as base64)
             return chart._fullData.reduce((n, trace) => n + (trace.x ? trace.x.length : 0), 0);
           }""", selector)


def test_click_through_studies_study_trial_and_compare(
        page: Any, study_url: str, tmp_path: Path) -> None:
    storage = SQLStorage(study_url)
    study = pipetune.load_study(study_name="taxi", storage=storage)
    with BackgroundServer(create_app(storage)) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("text=Experiment dc-taxi")
        _shot(page, tmp_path, "1-studies")

        page.click("a:text-is('taxi')")
        page.wait_for_selector("#trials-table tbody tr")
        assert page.inner_text(".pager span") == f"1–{N_TRIALS} of {N_TRIALS}"
        page.wait_for_function("() => document.querySelector('#study-plot .main-svg')")
        assert _plotted_points(page, "#study-plot") >= N_TRIALS  # the history, every trial
        assert f"#{study.best_trial.number}" in page.inner_text("#best-card")
        _shot(page, tmp_path, "2-study")

        page.fill("#filter", "params.x > 0 and params.kind = 'conv'")
        page.press("#filter", "Enter")
        expected = study.search("params.x > 0 and params.kind = 'conv'")
        page.wait_for_function(
            "n => document.querySelector('.pager span').textContent.endsWith(`of ${n}`)",
            arg=len(expected))
        shown = page.eval_on_selector_all("#trials-table tbody tr td:nth-child(2)",
                                          "cells => cells.map(c => Number(c.textContent))")
        assert shown == [t.number for t in expected]
        _shot(page, tmp_path, "3-filtered")

        page.click("#plot-tabs button[data-kind=slice]")
        page.wait_for_function("() => document.querySelector('#study-plot .main-svg')")
        page.wait_for_function("() => document.querySelector('#study-plot .slicelayer, "
                               "#study-plot .scatterlayer .point')")

        first = expected[0].number
        page.click(f"#trials-table a:text-is('{first}')")
        page.wait_for_selector("#trial-params")
        page.wait_for_function("() => document.querySelector('#trial-metrics .main-svg')")
        assert _plotted_points(page, "#trial-metrics .metric-plot") == 4
        assert "val_loss" in page.inner_text("#trial-metrics")
        assert "conv" in page.inner_text("#trial-params")
        assert _plotted_points(page, "#intermediate-plot") == 4
        _shot(page, tmp_path, "4-trial")

        page.go_back()
        page.wait_for_selector("#trials-table tbody tr")
        for row in (1, 2):
            page.check(f"#trials-table tbody tr:nth-child({row}) input[type=checkbox]")
        page.click("#compare")
        page.wait_for_selector("#compare-table")
        headers = page.eval_on_selector_all("#compare-table thead th a",
                                            "links => links.map(a => a.textContent)")
        assert headers == ["trial #0", "trial #1"]
        assert "params.x" in page.inner_text("#compare-table")
        page.wait_for_function("() => document.querySelector('#compare-plot .main-svg')")
        _shot(page, tmp_path, "5-compare")

        # live: a trial finished elsewhere shows up on the open study page by itself
        page.goto(server.url + f"/#/studies/{storage.get_study_id('taxi')}")
        page.wait_for_selector("#trials-table tbody tr")
        study.optimize(_objective, n_trials=1)
        page.wait_for_function(
            "n => document.querySelector('.pager span').textContent.endsWith(`of ${n}`)",
            arg=N_TRIALS + 1, timeout=15_000)
    assert page.errors == []


def test_a_read_token_signs_in_and_views(page: Any, study_url: str, tmp_path: Path) -> None:
    storage = SQLStorage(study_url)
    with BackgroundServer(create_app(storage, {READ: "read", "w-browser": "write"})) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("#login[open]")
        _shot(page, tmp_path, "token-prompt")
        page.fill("#login-token", READ)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("text=taxi")
        assert not page.is_visible("#login")
        page.reload()  # the token is kept for this tab
        page.wait_for_selector("text=taxi")
        assert page.is_visible("#forget-token")
    # The one expected error: the first, token-less request's 401.
    assert [e for e in page.errors if "401" not in e] == []
