"""Hyperopt's ``Trials`` over a pipetune study: the record of ``fmin`` searches.

Each trial of the study is shown as the dict Hyperopt keeps (tid, state, result, misc with the
values by label), built from the stored trial and, for trials of this process, the result dict
the objective returned. Results travel with the trial as system attrs (status, the loss of a
trial that did not complete, attachments) and user attrs (the extra keys JSON can hold), so a
``Trials`` over a stored study rebuilds them in a later process or on another machine.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np

from pipetune._attrs import (
    FAIL_REASON_ATTR,
    FIXED_PARAMS_ATTR,
    HYPEROPT_ATTACHMENTS_ATTR,
    HYPEROPT_LOSS_ATTR,
    HYPEROPT_STATUS_ATTR,
)
from pipetune._numbers import real_number
from pipetune.compat.hyperopt._space import Node, Param
from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import contains_external
from pipetune.errors import InvalidArgumentError, ObjectiveError
from pipetune.samplers import RandomSampler
from pipetune.storage import InMemoryStorage, get_storage
from pipetune.study import Study, create_study, load_study

STATUS_NEW = "new"
STATUS_RUNNING = "running"
STATUS_SUSPENDED = "suspended"
STATUS_OK = "ok"
STATUS_FAIL = "fail"
STATUS_STRINGS = (STATUS_NEW, STATUS_RUNNING, STATUS_SUSPENDED, STATUS_OK, STATUS_FAIL)

JOB_STATE_NEW = 0
JOB_STATE_RUNNING = 1
JOB_STATE_DONE = 2
JOB_STATE_ERROR = 3
JOB_STATE_CANCEL = 4
JOB_STATES = (JOB_STATE_NEW, JOB_STATE_RUNNING, JOB_STATE_DONE, JOB_STATE_ERROR,
              JOB_STATE_CANCEL)


class AllTrialsFailedError(ObjectiveError):
    """No trial returned status ``ok`` with a loss, so there is no best point."""


def attachment_name(tid: int, name: str) -> str:
    """The key of a trial's attachment in ``Trials.attachments`` (Hyperopt's spelling)."""
    return f"ATTACH::{tid}::{name}"


def encode_attachments(attachments: Mapping[str, Any]) -> dict[str, list[str]]:
    """The attachments a storage can keep (bytes and text), as JSON: name -> [encoding, text]."""
    encoded = {}
    for name, value in attachments.items():
        if isinstance(value, (bytes, bytearray)):
            encoded[str(name)] = ["base64", base64.b64encode(bytes(value)).decode("ascii")]
        elif isinstance(value, str):
            encoded[str(name)] = ["str", value]
    return encoded


def _decode_attachment(encoded: list[str]) -> Any:
    kind, text = encoded
    return base64.b64decode(text) if kind == "base64" else text


class TrialAttachments(MutableMapping[str, Any]):
    """One trial's attachments (``Trials.trial_attachments(trial)``): kept in
    ``Trials.attachments`` under ``ATTACH::<tid>::<name>``, and read from the stored trial when
    this process did not make them."""

    def __init__(self, trials: TrialsRecord, tid: int) -> None:
        self._trials, self._tid = trials, tid

    def _stored(self) -> dict[str, list[str]]:
        if not 0 <= self._tid < len(self._trials.study.trials):
            return {}
        frozen = self._trials.study.trials[self._tid]
        return dict(frozen.system_attrs.get(HYPEROPT_ATTACHMENTS_ATTR) or {})

    def _names(self) -> list[str]:
        prefix = attachment_name(self._tid, "")
        names = [key[len(prefix):] for key in self._trials.attachments if key.startswith(prefix)]
        return names + [name for name in self._stored() if name not in names]

    def __getitem__(self, name: str) -> Any:
        key = attachment_name(self._tid, name)
        if key in self._trials.attachments:
            return self._trials.attachments[key]
        stored = self._stored()
        if name not in stored:
            raise KeyError(name)
        return _decode_attachment(stored[name])

    def __setitem__(self, name: str, value: Any) -> None:
        self._trials.attachments[attachment_name(self._tid, name)] = value

    def __delitem__(self, name: str) -> None:
        del self._trials.attachments[attachment_name(self._tid, name)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


class TrialsRecord:
    """The record of ``fmin`` searches in Hyperopt's shape, over one pipetune study: all of
    Hyperopt's ``Trials`` but its ``fmin`` method, which ``pipetune.compat.hyperopt.fmin.Trials``
    (the public ``Trials``, documented there) adds; kept apart so that ``fmin`` can take a
    record without importing the class that calls it.
    """

    def __init__(self, exp_key: str | None = None, refresh: bool = True, *,
                 storage: Any = None, study_name: str | None = None) -> None:
        if study_name is None and storage is not None:
            study_name = exp_key
        if storage is not None and study_name is None:
            raise InvalidArgumentError(
                "Trials(storage=...) needs study_name= (or exp_key=) as well, so a later run "
                "finds the same study.")
        self._exp_key = exp_key
        self._storage_arg = storage
        self._study_name = "hyperopt" if study_name is None else study_name
        self._open(get_storage(storage))
        self._results: dict[int, dict[str, Any]] = {}  # trial number -> the objective's result
        # label -> its Param (None for a choice): picklable, unlike a whole space.
        self._nodes: dict[str, Param | None] = {}
        self._records: dict[int, dict[str, Any]] = {}  # finished trials' records, by number
        self.attachments: dict[str, Any] = {}

    def _open(self, storage: Any) -> None:
        self._storage = storage
        create_study(storage=storage, study_name=self._study_name, direction="minimize",
                     load_if_exists=True)
        self._study = load_study(study_name=self._study_name, storage=storage,
                                 sampler=RandomSampler(seed=0))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._study_name!r}: {len(self)} trials>"

    @property
    def study(self) -> Study:
        """The pipetune study behind these trials (for ``trials_dataframe`` and the like)."""
        return self._study

    @property
    def study_name(self) -> str:
        return self._study_name

    @property
    def storage(self) -> Any:
        """The pipetune storage holding the study."""
        return self._storage

    @property
    def shared(self) -> bool:
        """Whether the study lives in a storage other processes can reach (not in memory)."""
        return not isinstance(self._storage, InMemoryStorage)

    def learn(self, nodes: Mapping[str, Node]) -> None:
        """Takes note of a space's labelled nodes, so records list every label (even where
        inactive) and show quantized values rounded."""
        learnt = {label: node if isinstance(node, Param) else None
                  for label, node in nodes.items()}
        if any(label not in self._nodes or self._nodes[label] != node
               for label, node in learnt.items()):
            self._nodes.update(learnt)
            self._records.clear()

    def keep_result(self, tid: int, result: dict[str, Any]) -> None:
        """Keeps the objective's full result dict for trial ``tid`` in memory (what
        ``results`` shows for it; the storage holds its JSON-serializable part)."""
        self._results[tid] = result
        self._records.pop(tid, None)

    def _stored_result(self, frozen: FrozenTrial) -> dict[str, Any]:
        attrs = frozen.system_attrs
        status = attrs.get(HYPEROPT_STATUS_ATTR)
        result: dict[str, Any] = {}
        if status is None:
            status = {TrialState.COMPLETE: STATUS_OK, TrialState.WAITING: STATUS_NEW,
                      TrialState.RUNNING: STATUS_RUNNING}.get(frozen.state, STATUS_FAIL)
            if frozen.state == TrialState.FAIL:
                result["failure"] = attrs.get(FAIL_REASON_ATTR)
        result["status"] = status
        if frozen.state == TrialState.COMPLETE and frozen.values:
            result["loss"] = frozen.values[0]
        elif HYPEROPT_LOSS_ATTR in attrs:
            result["loss"] = attrs[HYPEROPT_LOSS_ATTR]
        for key, value in frozen.user_attrs.items():
            result.setdefault(key, value)
        return result

    def _given_values(self, frozen: FrozenTrial) -> dict[str, Any]:
        """The values of a given point (``generate_trials_to_calculate``) that lie outside
        their domains: the objective saw them, but they are no params of the trial."""
        fixed = frozen.system_attrs.get(FIXED_PARAMS_ATTR) or {}
        given = {}
        for label, value in fixed.items():
            node = self._nodes.get(label)
            if label not in frozen.params and isinstance(node, Param) \
                    and not contains_external(node.distribution, value) \
                    and frozen.state != TrialState.WAITING:
                given[label] = value
        return given

    def _record(self, frozen: FrozenTrial) -> dict[str, Any]:
        tid = frozen.number
        values = {**self._given_values(frozen), **frozen.params}
        labels = sorted(set(self._nodes) | set(values))
        vals: dict[str, list[Any]] = {label: [] for label in labels}
        idxs: dict[str, list[int]] = {label: [] for label in labels}
        for name, value in values.items():
            node = self._nodes.get(name)
            if isinstance(node, Param) and node.round_to is not None:
                value = node.finish(value)
            vals[name] = [value]
            idxs[name] = [tid]
        errored = (frozen.state == TrialState.FAIL
                   and HYPEROPT_STATUS_ATTR not in frozen.system_attrs)
        misc: dict[str, Any] = {"tid": tid, "cmd": ("domain_attachment", "FMinIter_Domain"),
                                "workdir": None, "idxs": idxs, "vals": vals}
        if errored:
            misc["error"] = ("FAIL", frozen.system_attrs.get(FAIL_REASON_ATTR))
        state = {TrialState.WAITING: JOB_STATE_NEW,
                 TrialState.RUNNING: JOB_STATE_RUNNING}.get(frozen.state, JOB_STATE_DONE)
        return {"state": JOB_STATE_ERROR if errored else state, "tid": tid, "spec": None,
                "result": self._results.get(tid) or self._stored_result(frozen), "misc": misc,
                "exp_key": self._exp_key, "owner": frozen.worker, "version": 0,
                "book_time": frozen.datetime_start,
                "refresh_time": frozen.datetime_complete or frozen.datetime_start}

    @property
    def trials(self) -> list[dict[str, Any]]:
        """One dict per trial, as Hyperopt has them: tid, state, result, misc (vals, idxs)."""
        records = []
        for frozen in self._study.trials:
            record = self._records.get(frozen.number)
            if record is None:
                record = self._record(frozen)
                if frozen.state.is_finished():  # finished trials never change: keep the record
                    self._records[frozen.number] = record
            records.append(record)
        return records

    def refresh(self) -> None:
        """Kept for Hyperopt code; the records are always read fresh from the study."""

    def __len__(self) -> int:
        return len(self._study.trials)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.trials)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.trials[index]

    @property
    def results(self) -> list[dict[str, Any]]:
        return [t["result"] for t in self.trials]

    def losses(self, bandit: Any = None) -> list[float | None]:
        """Each trial's loss (None where it has none), in trial order."""
        return [r.get("loss") for r in self.results]

    def statuses(self, bandit: Any = None) -> list[str | None]:
        return [r.get("status") for r in self.results]

    @property
    def tids(self) -> list[int]:
        return [t["tid"] for t in self.trials]

    @property
    def miscs(self) -> list[dict[str, Any]]:
        return [t["misc"] for t in self.trials]

    @property
    def specs(self) -> list[None]:
        return [t["spec"] for t in self.trials]

    @property
    def vals(self) -> dict[str, list[Any]]:
        """Label -> the values it took, over the trials where it was active."""
        merged: dict[str, list[Any]] = {}
        for misc in self.miscs:
            for label, values in misc["vals"].items():
                merged.setdefault(label, []).extend(values)
        return merged

    @property
    def idxs(self) -> dict[str, list[int]]:
        """Label -> the tids of the trials where it was active."""
        merged: dict[str, list[int]] = {}
        for misc in self.miscs:
            for label, tids in misc["idxs"].items():
                merged.setdefault(label, []).extend(tids)
        return merged

    def count_by_state_unsynced(self, arg: int | list[int]) -> int:
        states = {arg} if isinstance(arg, int) else set(arg)
        return sum(1 for t in self.trials if t["state"] in states)

    count_by_state_synced = count_by_state_unsynced

    def trial_attachments(self, trial: Mapping[str, Any]) -> TrialAttachments:
        """The attachments of ``trial`` (one of ``trials.trials``): a dict-like of name ->
        value, holding what the objective returned under ``'attachments'``."""
        if not isinstance(trial, Mapping) or not isinstance(trial.get("tid"), int):
            raise InvalidArgumentError(
                "trial_attachments takes one of trials.trials (a dict with a 'tid'). "
                f"Got {trial!r}.")
        return TrialAttachments(self, trial["tid"])

    @property
    def best_trial(self) -> dict[str, Any]:
        """The trial with status ok and the lowest loss (the earliest on ties)."""
        best, best_loss = None, math.inf
        records = self.trials
        for record in records:
            result = record["result"]
            loss = real_number(result.get("loss"))
            if result.get("status") != STATUS_OK or loss is None or math.isnan(loss):
                continue
            if best is None or loss < best_loss:
                best, best_loss = record, loss
        if best is None:
            raise AllTrialsFailedError(
                f"None of the {len(records)} trials returned status 'ok' with a loss, "
                "so there is no best trial: check the objective (trials.results holds what it "
                "returned; failed trials keep their reason).")
        return best

    @property
    def argmin(self) -> dict[str, Any]:
        """The best trial's values by label (a choice's value is its branch index)."""
        return {label: values[0] for label, values in self.best_trial["misc"]["vals"].items()
                if values}

    def average_best_error(self, bandit: Any = None) -> float:
        """The expected ``true_loss`` (the loss where a result has none) of the best trial:
        with no ``loss_variance`` in the results, that of the lowest loss; with noisy losses,
        the true losses of the trials within 3 sigma of the lowest, each weighted by the
        probability that its loss is the lowest. ``bandit`` is accepted and not used."""
        ok = [r for r in self.results
              if r.get("status") == STATUS_OK and real_number(r.get("loss")) is not None]
        if not ok:
            raise AllTrialsFailedError(
                "average_best_error needs a trial with status 'ok' and a loss; there is none.")
        ok.sort(key=lambda r: float(r["loss"]))
        loss = np.array([float(r["loss"]) for r in ok])
        variance = np.array([float(r.get("loss_variance", 0.0)) for r in ok])
        true_loss = np.array([float(r.get("true_loss", r["loss"])) for r in ok])
        if not variance.any():
            return float(true_loss[0])
        close = loss < loss[0] + 3 * math.sqrt(variance[0])
        close[0] = True
        # P(each loss is the lowest), estimated from draws of the normal noise of each.
        rng = np.random.default_rng(0)
        draws = rng.normal(loss[close], np.sqrt(variance[close]), size=(10_000, int(close.sum())))
        chance = np.bincount(draws.argmin(axis=1), minlength=int(close.sum())) / len(draws)
        return float((chance * true_loss[close]).sum())

    # Pickling (Hyperopt users save Trials with pickle): an in-memory study travels as its
    # trials; a stored one as its URL.
    def __getstate__(self) -> dict[str, Any]:
        state = {key: value for key, value in self.__dict__.items()
                 if key not in ("_storage", "_study", "_records")}
        if isinstance(self._storage, InMemoryStorage):
            state["_snapshot"] = self._study.trials
        elif not isinstance(self._storage_arg, str):
            raise InvalidArgumentError(
                "Trials kept in a storage object cannot be pickled; create them with "
                "Trials(storage='<url>', study_name=...) to pickle them.")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        snapshot = state.pop("_snapshot", None)
        state.setdefault("attachments", {})
        state.setdefault("_nodes", {})
        self.__dict__.update(state)
        self._records = {}
        if snapshot is None:
            self._open(get_storage(self._storage_arg))
            return
        self._open(InMemoryStorage())
        storage, study_id = self._storage, self._study.run_interface.study_id
        for frozen in snapshot:
            if frozen.state == TrialState.WAITING:
                storage.create_trial(study_id, state=TrialState.WAITING,
                                     system_attrs=frozen.system_attrs)
                continue
            trial_id = storage.create_trial(study_id, state=TrialState.RUNNING,
                                            system_attrs=frozen.system_attrs).trial_id
            storage.set_trial_params(trial_id, {
                name: (frozen.distributions[name].to_internal(value), frozen.distributions[name])
                for name, value in frozen.params.items()})
            for key, value in frozen.user_attrs.items():
                storage.set_trial_attr(trial_id, key, value)
            # A trial still running when pickled can never finish now.
            finished = frozen.state if frozen.state.is_finished() else TrialState.FAIL
            storage.finish_trial(trial_id, finished, frozen.values)
