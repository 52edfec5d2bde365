"""Compiles the trial search language (``pipetune.search``) to SQLAlchemy Core.

Every literal of a filter becomes a bound parameter; names (of params, metrics, attributes) are
bound too, so nothing a user types is pasted into SQL. The compiled conditions follow the
Python evaluator's semantics exactly (``search.compare``), with two-valued logic: each leaf is
written so that it is never NULL (``x IS NOT NULL AND x < :v``), which keeps ``not`` right.

Params are stored in their internal encoding (``trial_params.value``): for float and int
domains it is the value itself, for a categorical domain the index of the choice. A comparison
on a categorical param is therefore decided in Python over the choices of each distinct domain
the param has in the study (one small query), and becomes ``value IN (matching indices)``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Integer,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement

import pipetune.storage.sql.schema as s
from pipetune.datatypes import FINISHED_STATES
from pipetune.distributions import CategoricalDistribution, distribution_from_json
from pipetune.search import (
    And,
    Comparison,
    Expr,
    Field,
    Not,
    Or,
    OrderKey,
    compare,
)

__all__ = ["DomainCache", "FilterCompiler", "needs_python_order"]

_CATEGORICAL_PREFIX = '{"type": "categorical"'
_COMPARATORS = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__",
                ">=": "__ge__"}
_t = s.trials.c


def _apply(left: Any, op: str, right: Any) -> ColumnElement[bool]:
    return getattr(left, _COMPARATORS[op])(right)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _like_to_glob(pattern: str) -> str:
    """A ``like`` pattern as a case-sensitive SQLite GLOB pattern."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            char, i = pattern[i + 1], i + 2
            out.append(f"[{char}]" if char in "*?[" else char)
            continue
        out.append("*" if char == "%" else "?" if char == "_" else
                   f"[{char}]" if char in "*?[" else char)
        i += 1
    return "".join(out)


def needs_python_order(keys: Sequence[OrderKey]) -> bool:
    """Whether ordering needs the user-facing values (params, attributes) only Python has."""
    return any(key.field.kind in ("params", "user_attrs") for key in keys)


class DomainCache:
    """The categorical domains each param has in a study, read as few times as possible.

    Params are written only to unfinished trials, so the domains of the study's finished trials
    change only when trials finish; and finished trials never become unfinished again, so an
    unchanged count of finished trials means an unchanged set of them. Each lookup therefore
    counts the finished trials (an index-only count), rescans their params only when the count
    moved, and always scans the params of the (few) unfinished trials, all in the caller's
    transaction. A study is keyed with its creation time too, so a deleted study whose id is
    reused does not inherit its entries.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finished: dict[tuple[int, float, str], tuple[int, frozenset[str]]] = {}

    def domains(self, conn: Connection, study_id: int, created_at: float,
                name: str) -> list[tuple[str, CategoricalDistribution]]:
        params, trials = s.trial_params.c, s.trials.c
        finished = trials.state.in_([int(state) for state in FINISHED_STATES])

        def texts(*where: Any) -> frozenset[str]:
            return frozenset(conn.execute(
                select(params.distribution_json).distinct()
                .join(s.trials, trials.trial_id == params.trial_id)
                .where(trials.study_id == study_id, params.name == name,
                       params.distribution_json.startswith(_CATEGORICAL_PREFIX), *where))
                .scalars())

        key = (study_id, created_at, name)
        count = conn.execute(select(func.count()).select_from(s.trials).where(
            trials.study_id == study_id, finished)).scalar_one()
        with self._lock:
            cached = self._finished.get(key)
        if cached is None or cached[0] != count:
            cached = (count, texts(finished))
            with self._lock:
                self._finished[key] = cached
        found = cached[1] | texts(not_(finished))
        domains = []
        for text in sorted(found):
            domain = distribution_from_json(text)
            assert isinstance(domain, CategoricalDistribution)  # selected by its JSON prefix
            domains.append((text, domain))
        return domains


class FilterCompiler:
    """Compiles filters and orderings for the trials of one study, inside a read transaction
    (categorical domains are looked up on ``conn``, through ``domains``)."""

    def __init__(self, conn: Connection, study_id: int, created_at: float,
                 domains: DomainCache) -> None:
        self._conn = conn
        self._study_id = study_id
        self._created_at = created_at
        self._domains = domains
        self._postgres = conn.dialect.name == "postgresql"

    # -- scalars -------------------------------------------------------------------------------

    def scalar(self, field: Field) -> ColumnElement[Any]:
        """The SQL value of a numeric field for the outer trials row (NULL when missing)."""
        if field.kind == "number":
            return _t.number
        if field.kind == "state":
            return _t.state
        if field.kind == "duration":
            return _t.completed_at - _t.started_at
        if field.kind == "value":
            values = s.trial_values.c
            return (select(values.value)
                    .where(values.trial_id == _t.trial_id, values.objective == field.index)
                    .scalar_subquery())
        metrics = s.trial_metrics.c  # the last value: largest step, then last logged
        return (select(metrics.value)
                .where(metrics.trial_id == _t.trial_id, metrics.name == field.name)
                .order_by(metrics.step.desc(), metrics.metric_id.desc()).limit(1)
                .scalar_subquery())

    def order(self, keys: Sequence[OrderKey]) -> list[Any]:
        clauses = []
        for key in keys:
            expr = self.scalar(key.field)
            clauses.append((expr.desc() if key.descending else expr.asc()).nulls_last())
        return clauses + [_t.number.asc()]

    # -- filters -------------------------------------------------------------------------------

    def compile(self, expr: Expr) -> ColumnElement[bool]:
        if isinstance(expr, And):
            return and_(self.compile(expr.left), self.compile(expr.right))
        if isinstance(expr, Or):
            return or_(self.compile(expr.left), self.compile(expr.right))
        if isinstance(expr, Not):
            return not_(self.compile(expr.operand))
        return self.comparison(expr)

    def comparison(self, c: Comparison) -> ColumnElement[bool]:
        field, op, lit = c.field, c.op, c.literal
        if op == "in":
            return or_(false(), *(self.comparison(Comparison(field, "=", item)) for item in lit))
        if op == "not in":
            return and_(self.comparison(Comparison(field, "!=", None)),
                        not_(self.comparison(Comparison(field, "in", lit))))
        if lit is None:  # = null: missing or None; != null: present and not None
            present = self.present(field)
            return not_(present) if op == "=" else present
        if field.kind == "params":
            return self.param(field.name, op, lit)
        if field.kind == "user_attrs":
            return self.attr(field.name, op, lit)
        value = self.scalar(field)
        return and_(value.is_not(None), _apply(value, op, literal(lit, Float)))

    def present(self, field: Field) -> ColumnElement[bool]:
        if field.kind == "params":
            return self.param(field.name, "!=", None)
        if field.kind == "user_attrs":
            attrs = s.trial_attrs.c
            return exists().where(attrs.trial_id == _t.trial_id, attrs.system == 0,
                                  attrs.key == field.name, attrs.value_json != "null")
        return self.scalar(field).is_not(None)

    # params

    def param(self, name: str, op: str, lit: Any) -> ColumnElement[bool]:
        """EXISTS a row of the param whose user-facing value satisfies ``op lit`` (for
        ``lit`` None: whose value is not None)."""
        params = s.trial_params.c
        numeric_row = not_(params.distribution_json.startswith(_CATEGORICAL_PREFIX))
        numeric: ColumnElement[bool]
        if lit is None:
            numeric = true()
        elif _is_number(lit):
            numeric = _apply(params.value, op, literal(float(lit), Float))
        else:  # numbers never equal a string or a bool
            numeric = true() if op == "!=" else false()
        branches = [and_(numeric_row, numeric)]
        for text, domain in self._domains.domains(self._conn, self._study_id,
                                                     self._created_at, name):
            indices = [i for i, choice in enumerate(domain.choices)
                       if (choice is not None if lit is None else compare(choice, op, lit))]
            if indices:
                branches.append(and_(params.distribution_json == text,
                                     params.value.in_([float(i) for i in indices])))
        return exists().where(params.trial_id == _t.trial_id, params.name == name,
                              or_(*branches))

    # user attrs (JSON text)

    def _json_number(self, text: Any) -> ColumnElement[Any]:
        if self._postgres:
            pattern = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"
            return case((text.regexp_match(pattern), cast(text, Float)), else_=None)
        return case((and_(func.json_valid(text),
                          func.json_type(text).in_(["integer", "real"])),
                     func.json_extract(text, "$")), else_=None)

    def _json_string(self, text: Any) -> ColumnElement[Any]:
        if self._postgres:
            # Our writer's JSON strings always start with a quote; the cast then cannot fail.
            element = func.jsonb_build_array(cast(text, JSONB)).op("->>", return_type=Text)(
                literal(0, Integer))
            return case((text.startswith('"'), element.collate("C")), else_=None)
        return case((and_(func.json_valid(text), func.json_type(text) == "text"),
                     func.json_extract(text, "$")), else_=None)

    def attr(self, name: str, op: str, lit: Any) -> ColumnElement[bool]:
        attrs = s.trial_attrs.c
        text = attrs.value_json
        if op in ("like", "not like"):
            string = self._json_string(text)
            if self._postgres:
                hit = string.like(lit, escape="\\")
            else:
                hit = string.op("GLOB")(literal(_like_to_glob(lit)))
            row = and_(string.is_not(None), hit if op == "like" else not_(hit))
        else:
            if isinstance(lit, bool):
                value: Any = text
                equal = text == json.dumps(lit)
                ordered = false()
            elif _is_number(lit):
                value = self._json_number(text)
                equal = and_(value.is_not(None), value == literal(float(lit), Float))
                ordered = None
            else:
                value = self._json_string(text)
                equal = and_(value.is_not(None), value == literal(lit))
                ordered = None
            if op == "=":
                row = equal
            elif op == "!=":
                row = not_(equal)
            elif ordered is not None:
                row = ordered
            else:
                bound = literal(float(lit), Float) if _is_number(lit) else literal(lit)
                row = and_(value.is_not(None), _apply(value, op, bound))
        return exists().where(attrs.trial_id == _t.trial_id, attrs.system == 0,
                              attrs.key == name, row)
