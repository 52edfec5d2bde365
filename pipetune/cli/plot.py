"""``pipetune plot`` and ``pipetune report``: a study's figures as files.

``plot`` writes one figure of ``pipetune.visualization`` to HTML (plotly.js embedded, so it
opens offline) or to an image (PNG, SVG, PDF, JPEG) rendered by kaleido in a headless
Chromium. ``report`` writes one self-contained HTML page: the study's summary, its best
trial(s) and every figure that applies to it.
"""

from __future__ import annotations

import argparse
import html
import inspect
import sys
from pathlib import Path
from typing import Any

from pipetune._formatting import format_cell
from pipetune._imports import require
from pipetune.cli.output import EXIT_OK, Report, emit
from pipetune.cli.studies import load_named_study
from pipetune.datatypes import TrialState
from pipetune.errors import InvalidArgumentError, MissingDependencyError, PipetuneError
from pipetune.visualization import KINDS

IMAGE_SUFFIXES = (".png", ".svg", ".pdf", ".jpeg", ".jpg", ".webp")


def _plots() -> dict[str, Any]:
    """The plot functions by kind, once plotly is known to be installed."""
    require("plotly", "plot")
    from pipetune.visualization import PLOTS

    return PLOTS


def _figure(study: Any, kind: str, params: list[str] | None, objective: int | None) -> Any:
    """``plot_<kind>`` of the study with the options it accepts; an option given to a plot
    that has no use for it is an error, not silently dropped."""
    plot = _plots()[kind]
    accepted = inspect.signature(plot).parameters
    kwargs: dict[str, Any] = {}
    if params:
        if "params" not in accepted:
            raise InvalidArgumentError(
                f"The {kind} plot takes no --params: it shows no per-param panels. Drop it.")
        kwargs["params"] = params
    if objective is not None:
        if not 0 <= objective < len(study.directions):
            raise InvalidArgumentError(
                f"--objective must be between 0 and {len(study.directions) - 1} (study "
                f"{study.study_name!r} has {len(study.directions)} objective(s)). Got {objective}.")
        if "target" in accepted:
            kwargs["target"] = lambda trial: trial.values[objective]
            kwargs["target_name"] = f"Objective {objective}"
        elif "objective" in accepted:
            kwargs["objective"] = objective
        else:
            raise InvalidArgumentError(f"The {kind} plot takes no --objective. Drop it.")
    return plot(study, **kwargs)


def write_figure(figure: Any, out: Path, width: int | None = None,
                 height: int | None = None) -> None:
    """Writes ``figure`` as HTML (plotly.js inline: works offline) or, by the suffix of
    ``out``, as an image rendered by kaleido in a headless Chromium (MathJax off, so nothing
    is fetched from the network)."""
    _check_folder(out)
    suffix = out.suffix.lower()
    if suffix in (".html", ".htm"):
        figure.write_html(out, include_plotlyjs=True, full_html=True)
        return
    if suffix not in IMAGE_SUFFIXES:
        raise InvalidArgumentError(
            f"Cannot tell which format to write to {str(out)!r}: end the name with .html or "
            f"one of {', '.join(IMAGE_SUFFIXES)}.")
    require("kaleido", "plot")
    import plotly.io as pio

    pio.defaults.mathjax = None
    try:
        figure.write_image(out, width=width, height=height)
    except (RuntimeError, OSError) as error:  # no browser, a browser that failed to start
        raise MissingDependencyError(
            f"Could not render {str(out)!r}: {error or type(error).__name__}. Images are drawn "
            "by a Chromium browser: install it (Debian: apt-get install chromium, or `make "
            "browser`), or write .html instead.") from error


def _check_folder(out: Path) -> None:
    if not out.parent.is_dir():
        raise InvalidArgumentError(
            f"Cannot write {str(out)!r}: the folder {str(out.parent)!r} does not exist. Create "
            "it or pass another --out.")


def _pixels(text: str) -> int:
    """argparse type of --width / --height: a positive whole number of pixels."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of pixels, got {text!r}")
    return int(text)


def cmd_plot(args: argparse.Namespace) -> int:
    study = load_named_study(args)
    params = [p.strip() for p in args.params.split(",") if p.strip()] if args.params else None
    figure = _figure(study, args.kind, params, args.objective)
    out = Path(args.out)
    write_figure(figure, out, args.width, args.height)
    _written(args.format, study.study_name, args.kind, out)
    return EXIT_OK


def _written(fmt: str, study_name: str, kind: str, out: Path) -> None:
    """Says what was written: a sentence, or a record for ``--format json|csv``."""
    if fmt == "table":
        sys.stdout.write(f"Wrote {kind} of study {study_name!r} to {out}.\n")
        return
    record = {"study": study_name, "kind": kind, "out": str(out)}
    emit(Report([record], list(record), [list(record.values())]), fmt, sys.stdout)


def add_plot_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study name")
    parser.add_argument("kind", choices=KINDS, metavar="KIND",
                        help="one of: " + ", ".join(KINDS))
    parser.add_argument("--params", metavar="A,B",
                        help="comma-separated params to show (plots with per-param panels; "
                             "default: the few most important)")
    parser.add_argument("--objective", type=int, metavar="N",
                        help="plot objective N (from 0) of a multi-objective study")
    parser.add_argument("--out", "-o", required=True, metavar="FILE",
                        help="file to write: .html (opens offline) or .png/.svg/.pdf/.jpeg")
    parser.add_argument("--width", type=_pixels, metavar="PX", help="image width in pixels")
    parser.add_argument("--height", type=_pixels, metavar="PX", help="image height in pixels")


# -- report ------------------------------------------------------------------------------------

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;
text-align:left}th{background:#f3f3f3}.figure{margin:2em 0}.note{color:#777}"""


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(format_cell(v, False))}"
                    "</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _summary(study: Any) -> str:
    counts = {state: 0 for state in TrialState}
    for trial in study.trials:
        counts[trial.state] += 1
    rows: list[tuple[str, Any]] = [
        ("study", study.study_name),
        ("directions", ", ".join(d.name.lower() for d in study.directions)),
        ("trials", sum(counts.values()))]
    rows += [(state.name.lower(), n) for state, n in counts.items() if n]
    return "<h2>Summary</h2>" + _table(rows)


def _best(study: Any) -> str:
    best = study.best_trials
    if not best:
        return "<h2>Best trial</h2><p class='note'>No COMPLETE trial yet.</p>"
    if len(study.directions) == 1:
        trial = study.best_trial
        rows = [("trial", trial.number), ("value", trial.values[0])]
        rows += [(f"param {name}", value) for name, value in trial.params.items()]
        return "<h2>Best trial</h2>" + _table(rows)
    header = "".join(f"<th>{html.escape(h)}</th>" for h in
                     ["trial"] + [f"objective {i}" for i in range(len(study.directions))]
                     + ["params"])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(format_cell(c, False))}</td>" for c in
                         [t.number, *t.values,
                          ", ".join(f"{k}={v}" for k, v in t.params.items())]) + "</tr>"
        for t in best)
    return (f"<h2>Best trials (Pareto front, {len(best)})</h2>"
            f"<table><tr>{header}</tr>{body}</table>")


def report_kinds(study: Any) -> list[str]:
    """The plots a report of ``study`` shows: every kind that applies to its objectives."""
    kinds = list(_plots())
    if len(study.directions) not in (2, 3):
        kinds.remove("pareto_front")
    return kinds


def build_report(study: Any) -> str:
    """One self-contained HTML page of the study: summary, best trial(s), every figure.
    plotly.js is embedded once, so the file opens offline; a plot that cannot be drawn for
    this study says why in its place."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'>"
             f"<title>pipetune report: {html.escape(study.study_name)}</title>"
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>Study {html.escape(study.study_name)}</h1>", _summary(study), _best(study)]
    include_js: Any = True
    for kind in report_kinds(study):
        try:
            figure = _plots()[kind](study)
        except PipetuneError as error:
            parts.append(f"<div class='figure'><h3>{kind}</h3><p class='note'>"
                         f"{html.escape(str(error))}</p></div>")
            continue
        parts.append("<div class='figure'>" + figure.to_html(
            full_html=False, include_plotlyjs=include_js, include_mathjax=False) + "</div>")
        include_js = False  # once per page
    parts.append("</body></html>")
    return "\n".join(parts)


def cmd_report(args: argparse.Namespace) -> int:
    study = load_named_study(args)
    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InvalidArgumentError(
            f"A report is one HTML file: end --out with .html. Got {str(out)!r}.")
    _check_folder(out)
    out.write_text(build_report(study), encoding="utf-8")
    _written(args.format, study.study_name, "report", out)
    return EXIT_OK


def add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study name")
    parser.add_argument("--out", "-o", required=True, metavar="FILE.html",
                        help="the HTML file to write (self-contained, opens offline)")
