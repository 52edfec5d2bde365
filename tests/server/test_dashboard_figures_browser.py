"""The figure tabs of the dashboard on a 12-param study, in a real browser (headless Debian
Chromium driven by Playwright): each multi-param figure draws the four most important params
by default, its param picker shows those as chosen and adds any other, and no label the browser
drew overlaps another label or a tick label. A screenshot of each tab is kept as a test
artifact under the test's tmp dir; its path is printed (``pytest -s`` shows it)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from availability import require_installed, unavailable

require_installed("fastapi", "uvicorn", "plotly", extra="server")
require_installed("playwright", "sklearn", extra="test")

import pipetune
from pipetune.server import BackgroundServer, create_app
from pipetune.storage.sql import SQLStorage

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
FIGURE_TABS = ("parallel_coordinate", "slice", "contour", "rank")
IMPORTANT = {"learning_rate", "knn_n_neighbors", "preprocessing_scaler", "n_layers"}

# Every text the figure drew, with its box on the page and whether it is a label (a title, an
# axis name, an annotation) or a tick label. Plotly rotates tick labels that would collide;
# their boxes are then the axis-aligned hulls, which overlap each other without the text doing
# so, so ticks are only checked against labels.
_TEXTS = """div => [...div.querySelectorAll('text')]
  .filter(t => t.textContent.trim() && t.getBBox().width > 0)
  .map(t => {
    const box = t.getBoundingClientRect();
    const kind = `${t.getAttribute('class') || ''} ${t.parentNode.getAttribute('class') || ''}`;
    return {text: t.textContent, left: box.left, top: box.top, right: box.right,
            bottom: box.bottom, label: /title|annotation/.test(kind)};
  })"""


def _overlapping(texts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The pairs of drawn texts, one of them a label, whose boxes overlap by over a pixel."""
    pairs = []
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            if (a["label"] or b["label"]) and a["left"] < b["right"] - 1 and \
                    b["left"] < a["right"] - 1 and a["top"] < b["bottom"] - 1 and \
                    b["top"] < a["bottom"] - 1:
                pairs.append((a["text"], b["text"]))
    return pairs


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        unavailable(f"The browser tests need {CHROMIUM} (make browser installs it).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _objective(trial: pipetune.Trial) -> float:
    """Four params matter (IMPORTANT), eight do nothing."""
    lr = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
    neighbors = trial.suggest_int("knn_n_neighbors", 1, 50, log=True)
    scaler = trial.suggest_categorical("preprocessing_scaler", ["standard", "minmax", "robust"])
    layers = trial.suggest_int("n_layers", 1, 4)
    for i in range(8):
        trial.suggest_float(f"extra_param_{i}", 0.0, 1.0)
    return (3 * (math.log10(lr) + 2.5) ** 2 + math.log(neighbors) + 5 * (scaler == "robust")
            + 1.5 * layers)


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> SQLStorage:
    url = f"sqlite:///{tmp_path_factory.mktemp('figures') / 'study.db'}"
    study = pipetune.create_study(storage=url, study_name="twelve",
                                  sampler=pipetune.samplers.RandomSampler(seed=7))
    study.optimize(_objective, n_trials=150)
    return SQLStorage(url)


def _checked(page: Any) -> set[str]:
    return set(page.eval_on_selector_all(
        ".params-pick input:checked", "boxes => boxes.map(b => b.dataset.param)"))


def _drawn(page: Any, kind: str) -> None:
    """Waits until the figure of tab ``kind`` is drawn."""
    page.wait_for_function(
        """kind => {
             const div = document.querySelector('#study-plot');
             return div && div.querySelector('.main-svg') && div.layout &&
                    div.layout.title.text.includes(kind);
           }""", arg={"parallel_coordinate": "Parallel", "slice": "Slice",
                      "contour": "Contour", "rank": "Rank"}[kind])
    page.wait_for_timeout(300)  # parcoords draws its axes after the first frame


def test_figure_tabs_of_a_twelve_param_study_are_readable(
        browser: Any, storage: SQLStorage, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    with BackgroundServer(create_app(storage)) as server:
        page.goto(server.url + f"/#/studies/{storage.get_study_id('twelve')}")
        page.wait_for_selector("#trials-table tbody tr")
        for kind in FIGURE_TABS:
            page.click(f"#plot-tabs button[data-kind={kind}]")
            _drawn(page, kind)
            shown = page.evaluate("() => document.querySelector('#study-plot').layout.meta.params")
            assert set(shown) == IMPORTANT, kind
            assert "4 of 12 params shown" in page.text_content("#study-plot .gtitle")
            assert _checked(page) == IMPORTANT, kind
            shot = tmp_path / f"{kind}.png"
            page.locator("#study-plot").screenshot(path=str(shot))
            print(f"screenshot of the {kind} tab: {shot}")
            assert shot.stat().st_size > 10_000  # a real picture, not a blank one
            assert _overlapping(page.eval_on_selector("#study-plot", _TEXTS)) == [], kind

        # the picker adds a fifth param to the four drawn (the rank tab is still open)
        page.check(".params-pick input[data-param=extra_param_3]")
        page.wait_for_function(
            "() => document.querySelector('#study-plot').layout.meta.params.length === 5")
        assert _checked(page) == IMPORTANT | {"extra_param_3"}
        assert "4 of 12" not in page.text_content("#study-plot .gtitle")  # chosen: no note
        page.close()  # before the server stops: the page polls it
    assert errors == []


def test_runs_are_listed_under_the_study_they_rerun(browser: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    search = pipetune.create_study(storage=url, study_name="search")
    search.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    pipetune.start_run(storage=url, name="baseline").end(0.9)
    pipetune.create_study(storage=url, study_name="other")
    pipetune.start_run(storage=url, name="search-final", parent="search").end(0.1)
    page = browser.new_page(viewport={"width": 1280, "height": 700})
    with BackgroundServer(create_app(SQLStorage(url))) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("table.studies tbody tr")
        rows = page.eval_on_selector_all(
            "table.studies tbody tr",
            "rows => rows.map(r => [...r.cells].slice(0, 2).map(c => c.textContent))")
        shot = tmp_path / "studies.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the studies list: {shot}")
        page.close()
    assert rows == [["search", "study"], ["search-final", "run of search"],
                    ["baseline", "run"], ["other", "study"]]
