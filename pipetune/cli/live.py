"""What ``pipetune tune`` shows while it runs.

On a terminal: a compact table of the running trials (with their latest intermediate value)
and the latest finished ones, redrawn in place about once a second by a timer thread that
reads the study through its own handle. Elsewhere (a pipe, a CI log): one line per finished
trial, written by the optimize callback as each trial ends.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from pipetune._attrs import FAIL_REASON_ATTR
from pipetune._formatting import format_cell, format_duration
from pipetune.cli.output import render_table
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from pipetune.study import Study

REFRESH_SECONDS = 1.0
_MAX_FINISHED_ROWS = 12
_REASON_WIDTH = 100


def first_line(reason: str) -> str:
    """A trial's fail reason in one short line: the launcher's "Trial 3: the command exited
    with code 1 (argv)." plus the last line of the log tail it quotes, without the repeats."""
    lines = [line.strip() for line in reason.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("KeyboardInterrupt"):
        return "interrupted"
    head = re.sub(r"^ObjectiveError: (Trial \d+: )?", "", lines[0])
    head = re.sub(r" \(\S.*\)\.$", "", head)  # the command's argv, shown in the log
    if len(lines) > 2 and lines[1].startswith("Last "):  # a log tail follows
        head = f"{head.rstrip('.')}; last output: {lines[-1]}"
    return head if len(head) <= _REASON_WIDTH else head[:_REASON_WIDTH - 3] + "..."


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={format_cell(value)}" for name, value in params.items())


def _duration(trial: FrozenTrial) -> float | None:
    if trial.datetime_start is None:
        return None
    end = trial.datetime_complete or dt.datetime.now()
    return max((end - trial.datetime_start).total_seconds(), 0.0)


class LiveDisplay:
    """Shows one ``tune`` run. ``trial_finished`` is the optimize callback; ``start`` and
    ``stop`` run the redraw thread on a terminal. ``before`` holds the numbers of the trials
    the study had when the run began: they are not shown."""

    def __init__(self, study_name: str, storage: str, directions: Sequence[StudyDirection],
                 metrics: Sequence[str], param_names: Sequence[str], total: int | None,
                 before: set[int], out: TextIO, tty: bool) -> None:
        self.study_name = study_name
        self.storage = storage
        self.minimize = [d == StudyDirection.MINIMIZE for d in directions]
        self.metrics = list(metrics)
        self.param_names = list(param_names)
        self.total = total
        self.before = before
        self.out = out
        self.tty = tty
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.best: FrozenTrial | None = None
        self.drawn_lines = 0
        self._stop = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._reader: Study | None = None

    # -- plain lines ---------------------------------------------------------------------------

    def _improves(self, trial: FrozenTrial) -> bool:
        if trial.state != TrialState.COMPLETE or len(self.minimize) != 1 or not trial.values:
            return False
        best = None if self.best is None else self.best.value
        if best is None:
            return True
        value = trial.values[0]
        return value < best if self.minimize[0] else value > best

    def describe(self, trial: FrozenTrial) -> str:
        """One finished trial as a line: number, state, value(s), duration, params."""
        values = ""
        if trial.values is not None:
            values = " " + " ".join(f"{m}={format_cell(v)}" for m, v in zip(self.metrics,
                                                                              trial.values))
        if trial.state == TrialState.PRUNED and trial.intermediate_values:
            values = f" at step {max(trial.intermediate_values)}{values}"
        took = _duration(trial)
        text = f"trial {trial.number} {trial.state.name}{values}"
        text += "" if took is None else f" in {format_duration(took)}"
        if trial.state == TrialState.FAIL:
            text += f": {first_line(str(trial.system_attrs.get(FAIL_REASON_ATTR, '')))}"
        params = {name: trial.params[name] for name in self.param_names if name in trial.params}
        return f"{text}  {_params_text(params)}"

    def trial_finished(self, study: Study, trial: FrozenTrial) -> None:
        with self.lock:
            if self._closed:  # a straggling thread after an interrupt: the summary is out
                return
            improved = self._improves(trial)
            if improved:
                self.best = trial
            if not self.tty:
                self.out.write(self.describe(trial) + (" (best so far)" if improved else "")
                               + "\n")
                self.out.flush()

    # -- the table on a terminal ---------------------------------------------------------------

    def start(self) -> None:
        if not self.tty:
            return
        from pipetune.study import load_study

        self._reader = load_study(study_name=self.study_name, storage=self.storage)
        self._thread = threading.Thread(target=self._loop, name="pipetune-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self.lock:
            self._closed = True
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.redraw()  # the final state stays on screen

    def _loop(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            try:
                self.redraw()
            except Exception:  # noqa: BLE001 - a display hiccup must never end the run
                pass

    def redraw(self) -> None:
        if self._reader is None:  # not started: nothing to draw from
            return
        trials = [t for t in self._reader.trials if t.number not in self.before]
        size = shutil.get_terminal_size((100, 24))
        # Redrawing moves the cursor up over the last table: it must fit on the screen.
        lines = self.render(trials, time.monotonic() - self.started, max_rows=size.lines - 4)
        lines = [line[:size.columns] for line in lines]
        with self.lock:
            erase = f"\x1b[{self.drawn_lines}F\x1b[J" if self.drawn_lines else ""
            self.out.write(erase + "\n".join(lines) + "\n")
            self.out.flush()
            self.drawn_lines = len(lines)

    def render(self, trials: Sequence[FrozenTrial], elapsed: float,
               max_rows: int = _MAX_FINISHED_ROWS + 8) -> list[str]:
        """The lines of the table for ``trials`` (this run's): a status line, then the latest
        finished trials and the running ones, ``max_rows`` rows at most."""
        counts = {state: 0 for state in TrialState}
        for trial in trials:
            counts[trial.state] += 1
        max_rows = max(max_rows, 1)
        running = [t for t in trials if t.state == TrialState.RUNNING][:max_rows]
        n_finished = min(_MAX_FINISHED_ROWS, max_rows - len(running))
        finished = [t for t in trials if t.state.is_finished()][-n_finished:] \
            if n_finished > 0 else []
        done = sum(counts[s] for s in TrialState if s.is_finished())
        of_total = f"/{self.total}" if self.total is not None else ""
        status = (f"{self.study_name}: {done}{of_total} trials done ({counts[TrialState.COMPLETE]}"
                  f" complete, {counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAIL]} "
                  f"failed), {len(running)} running, {format_duration(elapsed)}")
        if self.best is not None:
            status += f"; best {format_cell(self.best.value)} (trial {self.best.number})"
        value_header = self.metrics[0] if len(self.metrics) == 1 else "values"
        columns = ["trial", "state", value_header, "step", "time", *self.param_names]
        rows = []
        for trial in finished + running:
            step: Any = None
            value: Any = None
            if trial.values is not None:
                value = trial.values[0] if len(trial.values) == 1 else list(trial.values)
            elif trial.intermediate_values:
                step = max(trial.intermediate_values)
                value = trial.intermediate_values[step]
            if trial.state == TrialState.PRUNED and trial.intermediate_values:
                step = max(trial.intermediate_values)
            state = trial.state.name
            if trial.state == TrialState.COMPLETE and self.best is not None \
                    and trial.number == self.best.number:
                state += " *"
            took = _duration(trial)
            rows.append([trial.number, state, value, step,
                         None if took is None else format_duration(took),
                         *[trial.params.get(p) for p in self.param_names]])
        return [status, *render_table(columns, rows).rstrip("\n").split("\n")]
