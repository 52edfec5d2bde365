"""Makes ``docs/images/dashboard.png``, the README's picture of the dashboard.

It tunes ``examples/script/study.yaml`` (30 trials of the small network on the diabetes data,
about ten seconds) into a SQLite file in a temporary folder, serves the dashboard over it on
127.0.0.1 and saves the study page as headless Chromium draws it. Rerun it after changing the
dashboard::

    .venv/bin/python docs/images/make_screenshot.py

It needs the ``server`` and ``test`` extras (FastAPI, uvicorn, plotly, Playwright,
scikit-learn for the data) and Chromium at ``/usr/bin/chromium`` (``make browser``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from pipetune.server import BackgroundServer, create_app
from pipetune.storage.sql import SQLStorage

ROOT = Path(__file__).resolve().parents[2]
STUDY_YAML = ROOT / "examples" / "script" / "study.yaml"
STUDY = "diabetes-mlp"  # the study: name in STUDY_YAML
OUTPUT = Path(__file__).resolve().parent / "dashboard.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 860}
MAX_BYTES = 300_000  # the README loads it; keep it light


def tune(storage_url: str) -> None:
    """Runs the README's ``pipetune tune`` example to the end of its search, one trial at a
    time: with the YAML's seed, every rerun then prunes the same trials and draws the same
    picture."""
    subprocess.run([sys.executable, "-m", "pipetune.cli", "tune", str(STUDY_YAML),
                    "--storage", storage_url, "--parallel", "1"],
                   check=True, stdout=subprocess.DEVNULL)


def screenshot(storage_url: str, output: Path, chromium: str) -> None:
    """The study page of ``STUDY`` (best trial, optimization history, trials table), drawn
    at ``VIEWPORT``'s size."""
    storage = SQLStorage(storage_url)
    with BackgroundServer(create_app(storage)) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{server.url}/#/studies/{storage.get_study_id(STUDY)}")
        page.wait_for_selector("#trials-table tbody tr")
        page.wait_for_function("() => document.querySelector('#study-plot .main-svg')")
        page.mouse.move(0, 0)  # no hover highlight in the picture
        page.wait_for_timeout(500)  # plotly's first transition
        page.screenshot(path=str(output))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        tune(url)
        screenshot(url, args.output, args.chromium)
    size = args.output.stat().st_size
    print(f"{args.output}: {size / 1000:.0f} KB")
    if size > MAX_BYTES:
        sys.exit(f"{args.output} is over {MAX_BYTES // 1000} KB: make VIEWPORT smaller.")


if __name__ == "__main__":
    main()
