"""What a command prints: reports rendered as a table, JSON or CSV, and the exit codes."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import shutil
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from pipetune._formatting import format_cell, json_safe
from pipetune.datatypes import FrozenTrial
from pipetune.errors import InvalidArgumentError

FORMATS = ("table", "json", "csv")

EXIT_OK = 0
EXIT_DECLINED = 1
EXIT_FAILED = 1  # optimize: the objective raised, or failed too often in a row
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]




@dataclass(frozen=True)
class Report:
    """What one command prints: ``records`` (nested, for JSON) and the same rows flattened into
    ``columns`` for a table or CSV. Computed first and rendered after, so every format shows
    the same data. A table too wide for the terminal leaves out the ``optional`` columns
    first, then columns from the right (see ``fit_table``)."""

    records: list[dict[str, Any]]
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    optional: tuple[str, ...] = ()

    def select(self, names: Sequence[str]) -> Report:
        """The report with only the columns ``names``, in that order (``--columns``); raises
        with the columns there are when one is not among them."""
        unknown = [n for n in names if n not in self.columns]
        if unknown:
            raise InvalidArgumentError(
                f"No column {', '.join(map(repr, unknown))} here. The columns: "
                f"{', '.join(self.columns)}.")
        indexes = [self.columns.index(n) for n in names]
        return Report(self.records, list(names),
                      [[row[i] for i in indexes] for row in self.rows])


def iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _seconds(span: dt.timedelta | None) -> float | None:
    return None if span is None else span.total_seconds()


def format_bytes(size: int) -> str:
    """A size as a person reads it, in binary units: ``512 B``, ``1.5 KiB``, ``23.4 MiB``."""
    value, unit = float(size), "B"
    for larger in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    if unit == "B":
        return f"{size} B"
    return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, dt.timedelta)) and not isinstance(value, bool)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned columns under a header and a rule; number columns are right-aligned."""
    cells = [[format_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(row[i] is None or _is_number(row[i]) for row in rows)
               for i in range(len(columns))]

    def line(items: Sequence[str]) -> str:
        return "  ".join(item.rjust(w) if num else item.ljust(w)
                         for item, w, num in zip(items, widths, numeric)).rstrip()

    out = [line(list(columns)), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out) + "\n"


def terminal_width(out: TextIO) -> int | None:
    """The width of the terminal ``out`` writes to; None when it is a pipe or a file, which
    get every column."""
    return shutil.get_terminal_size().columns if out.isatty() else None


def fit_table(report: Report, width: int) -> tuple[Report, list[str]]:
    """The columns of ``report`` that fit in a table ``width`` characters wide, and the names
    of those left out: the ``optional`` columns go first, then columns from the right (the
    first column always stays)."""
    cells = [[format_cell(v) for v in row] for row in report.rows]
    widths = {c: max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(report.columns)}
    kept = list(report.columns)
    order = dict.fromkeys([c for c in report.optional if c in kept[1:]] + kept[:0:-1])
    dropped = []
    for name in order:
        if sum(widths[c] for c in kept) + 2 * (len(kept) - 1) <= width:
            break
        kept.remove(name)
        dropped.append(name)
    return report.select(kept), [c for c in report.columns if c in dropped]


def emit(report: Report, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump(json_safe(report.records), out, indent=2, allow_nan=False)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(report.columns)
        writer.writerows([format_cell(v, compact=False) for v in row] for row in report.rows)
    else:
        width = terminal_width(out)
        dropped: list[str] = []
        if width is not None:  # a terminal: the columns that do not fit are dropped
            report, dropped = fit_table(report, width)
        out.write(render_table(report.columns, report.rows))
        if width is not None and dropped:
            note = (f"({len(dropped)} more column(s) not shown: {', '.join(dropped)}. Pick "
                    "columns with --columns, or see them all with --format csv.)")
            out.write(textwrap.fill(note, width, break_on_hyphens=False) + "\n")


# -- trials as records and rows ----------------------------------------------------------------


def _value_columns(n_objectives: int) -> list[str]:
    return ["value"] if n_objectives == 1 else [f"values_{i}" for i in range(n_objectives)]


def _values_cells(trial: FrozenTrial, n_objectives: int) -> list[Any]:
    if trial.values is None:
        return [None] * n_objectives
    return list(trial.values)


def _trial_record(trial: FrozenTrial, n_objectives: int) -> dict[str, Any]:
    record: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
    if n_objectives == 1:
        record["value"] = None if trial.values is None else trial.values[0]
    else:
        record["values"] = None if trial.values is None else list(trial.values)
    record.update(datetime_start=iso(trial.datetime_start),
                  datetime_complete=iso(trial.datetime_complete),
                  duration=_seconds(trial.duration), params=dict(trial.params),
                  user_attrs=dict(trial.user_attrs))
    return record


def _keys(dicts: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({key for d in dicts for key in d})


def trials_report(trials: Sequence[FrozenTrial], n_objectives: int,
                   fields: Sequence[str], with_user_attrs: bool) -> Report:
    """Trials as a report: ``fields`` (of number, state, value, datetime_start, duration) in
    that order, then one ``params_<name>`` column per param (and ``user_attrs_<name>``)."""
    params = _keys(t.params for t in trials)
    attrs = _keys(t.user_attrs for t in trials) if with_user_attrs else []
    columns: list[str] = []
    for name in fields:
        columns.extend(_value_columns(n_objectives) if name == "value" else [name])
    columns += [f"params_{p}" for p in params] + [f"user_attrs_{a}" for a in attrs]
    rows = []
    for trial in trials:
        row: list[Any] = []
        for name in fields:
            if name == "value":
                row.extend(_values_cells(trial, n_objectives))
            elif name == "state":
                row.append(trial.state.name)
            else:
                row.append(getattr(trial, name))
        row += [trial.params.get(p) for p in params]
        row += [trial.user_attrs.get(a) for a in attrs]
        rows.append(row)
    return Report([_trial_record(t, n_objectives) for t in trials], columns, rows,
                  optional=("datetime_start", "duration"))


# -- subcommands -------------------------------------------------------------------------------


