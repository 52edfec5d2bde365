"""``pipetune plot`` and ``pipetune report``: figures of a stored study written to files."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from availability import unavailable

import pipetune
from pipetune.cli import main
from pipetune.samplers import RandomSampler
from pipetune.visualization import PLOTS

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite storage with a single-objective study ``demo`` (log, int and categorical
    params, learning curves), a two-objective study ``mo`` and an empty study ``empty``."""
    url = f"sqlite:///{tmp_path_factory.mktemp('plots') / 'pipetune.db'}"

    def objective(trial: pipetune.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        layers = trial.suggest_int("n_layers", 1, 3)
        act = trial.suggest_categorical("act", ["relu", "tanh"])
        for step in range(3):
            trial.report(lr * layers + 1 / (step + 1), step)
        return lr * layers + (act == "tanh")

    demo = pipetune.create_study(study_name="demo", storage=url,
                                 sampler=RandomSampler(seed=0))
    demo.optimize(objective, n_trials=20)
    mo = pipetune.create_study(study_name="mo", storage=url,
                               directions=["minimize", "maximize"],
                               sampler=RandomSampler(seed=0))
    mo.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)),
                n_trials=10)
    pipetune.create_study(study_name="empty", storage=url)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _figure_json(page: str) -> dict:
    """The figure a plotly HTML file draws (the arguments of its Plotly.newPlot call)."""
    match = re.search(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{",
                      page, re.S)
    assert match, "no Plotly.newPlot call in the page"
    return {"data": json.loads(match.group(1)), "layout": json.loads(match.group(2))}


def test_plot_writes_a_self_contained_html_file(storage, capsys, tmp_path):
    out = tmp_path / "slice.html"
    code, stdout, err = run(capsys, "plot", "demo", "slice", "--params", "lr,act",
                            "--out", str(out), "--storage", storage)
    assert code == 0 and err == ""
    assert f"to {out}" in stdout
    page = out.read_text()
    assert "<script src=\"http" not in page  # plotly.js is inline: opens offline
    figure = _figure_json(page)
    assert [trace["name"] for trace in figure["data"]] == ["lr", "act"]


def test_plot_objective_picks_one_of_several(storage, capsys, tmp_path):
    out = tmp_path / "history.html"
    code, _, err = run(capsys, "plot", "mo", "optimization_history", "--objective", "1",
                       "--out", str(out), "--storage", storage)
    assert code == 0, err
    assert _figure_json(out.read_text())["layout"]["yaxis"]["title"]["text"] == "Objective 1"


@pytest.mark.parametrize("argv, message", [
    (["plot", "demo", "timeline", "--params", "lr"], "takes no --params"),
    (["plot", "demo", "slice", "--params", "dropout"], "no param named 'dropout'"),
    (["plot", "demo", "slice", "--objective", "3"], "--objective must be between 0 and 0"),
    (["plot", "demo", "pareto_front"], "2 or 3 objectives"),
    (["plot", "nope", "slice"], "nope"),
])
def test_plot_mistakes_are_one_line_with_the_fix(storage, capsys, tmp_path, argv, message):
    out = tmp_path / "x.html"
    code, _, err = run(capsys, *argv, "--out", str(out), "--storage", storage)
    assert code == 2
    assert err.startswith("error:") and message in err
    assert not out.exists()


def test_plot_refuses_an_unknown_file_type_or_folder(storage, capsys, tmp_path):
    code, _, err = run(capsys, "plot", "demo", "slice", "--out", str(tmp_path / "x.txt"),
                       "--storage", storage)
    assert code == 2 and ".html" in err
    code, _, err = run(capsys, "report", "demo", "--out", str(tmp_path / "no" / "r.html"),
                       "--storage", storage)
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "plot", "demo", "slice", "--out", str(tmp_path / "x.png"),
                       "--width", "-5", "--storage", storage)
    assert code == 2 and "positive number of pixels" in err


def test_plot_kinds_are_every_visualization():
    help_text = pipetune.cli.build_parser().format_help()
    assert "plot" in help_text and "report" in help_text
    assert set(PLOTS) == {"param_importances", "parallel_coordinate", "contour",
                          "optimization_history", "slice", "intermediate_values", "edf",
                          "pareto_front", "timeline", "rank"}


def test_report_has_summary_best_trial_and_every_figure(storage, capsys, tmp_path):
    out = tmp_path / "report.html"
    code, _, err = run(capsys, "report", "demo", "--out", str(out), "--storage", storage)
    assert code == 0, err
    page = out.read_text()
    best = pipetune.load_study(study_name="demo", storage=storage).best_trial
    assert "Summary" in page and f"<td>{best.number}</td>" in page
    assert page.count("Plotly.newPlot(") == len(PLOTS) - 1  # no Pareto front: one objective
    assert page.count("* plotly.js v") == 1  # plotly.js once, inline
    assert "<script src=\"http" not in page


def test_report_of_several_objectives_lists_the_pareto_front(storage, capsys, tmp_path):
    out = tmp_path / "mo.html"
    assert run(capsys, "report", "mo", "--out", str(out), "--storage", storage)[0] == 0
    page = out.read_text()
    front = pipetune.load_study(study_name="mo", storage=storage).best_trials
    assert f"Pareto front, {len(front)}" in page
    assert page.count("Plotly.newPlot(") == len(PLOTS)


def test_report_of_an_empty_study_still_writes(storage, capsys, tmp_path):
    out = tmp_path / "empty.html"
    assert run(capsys, "report", "empty", "--out", str(out), "--storage", storage)[0] == 0
    assert "No COMPLETE trial yet" in out.read_text()


def test_plot_writes_a_png_through_a_real_browser(storage, capsys, tmp_path):
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        unavailable(f"PNG export needs Chromium ({CHROMIUM}): run `make browser`.")
    out = tmp_path / "contour.png"
    code, _, err = run(capsys, "plot", "demo", "contour", "--params", "lr,n_layers",
                       "--out", str(out), "--width", "500", "--height", "400",
                       "--storage", storage)
    assert code == 0, err
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (500, 400)


def test_plot_says_what_it_wrote_as_json(storage, capsys, tmp_path):
    out = tmp_path / "edf.html"
    code, stdout, _ = run(capsys, "plot", "demo", "edf", "--out", str(out), "--format", "json",
                          "--storage", storage)
    assert code == 0
    assert json.loads(stdout) == [{"study": "demo", "kind": "edf", "out": str(out)}]
