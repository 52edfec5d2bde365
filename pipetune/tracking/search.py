"""The trial search language: ``params.lr > 0.01 and metrics.val_rmse < 3 and state = COMPLETE``.

A tokenizer and a recursive-descent parser turn a filter into a small AST (``Comparison``,
``And``, ``Or``, ``Not``); SQL storages compile it to bound SQLAlchemy expressions
(``pipetune.storage.sql.search``), the memory storage evaluates it here (``matches``). Both follow
the semantics below, so one filter selects the same trials everywhere.

Grammar (keywords are case-insensitive)::

    filter     := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | "(" or ")" | comparison
    comparison := field op literal | field ["not"] "in" "(" literal ("," literal)* ")"
                | field ["not"] "like" string
    field      := ("params" | "metrics" | "user_attrs") "." name | "value" | "values" "[" int "]"
                | "state" | "duration" | "number"
    name       := identifier ("." identifier)* | 'quoted' | "quoted" | `quoted`
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    literal    := number | 'string' | "string" | true | false | null | STATE_NAME

Semantics: values are compared as the user sees them (a categorical param by its choice, a log
param by its value); ``metrics.NAME`` is the metric's last value (largest step); ``duration`` is in
seconds. Numbers compare with numbers and strings with strings: a comparison across kinds, or on
a param, metric or attribute the trial lacks, is false (``!=`` across kinds is true). ``= null``
matches a missing or None value, ``!= null`` a present one. ``like`` is case-sensitive: ``%``
matches any run of characters, ``_`` one, a backslash escapes either.

``order_by`` is a comma-separated list of fields, each optionally prefixed with ``-`` or followed
by ``asc`` / ``desc``; missing values sort last, ties by trial number.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.errors import FilterSyntaxError

__all__ = ["And", "Comparison", "Expr", "Field", "Not", "Or", "OrderKey", "compare", "matches",
           "parse_filter", "parse_order_by", "search", "value_of"]

PREFIXED = ("params", "metrics", "user_attrs")
SCALARS = ("value", "state", "duration", "number")  # plus values[i]
NUMERIC = ("value", "state", "duration", "number", "metrics")  # compared with numbers only
OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
_KEYWORDS = {"and", "or", "not", "in", "like", "true", "false", "null", "asc", "desc"}


# -- the AST -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """What a comparison reads: ``kind`` is one of PREFIXED with ``name``, or a scalar
    (``value`` with the objective ``index``, ``state``, ``duration``, ``number``)."""

    kind: str
    name: str | None = None
    index: int = 0
    column: int = 1

    def __str__(self) -> str:
        if self.kind in PREFIXED:
            return f"{self.kind}.{self.name}"
        if self.kind == "value" and self.index:
            return f"values[{self.index}]"
        return self.kind


@dataclass(frozen=True)
class Comparison:
    """``field op literal``; ``op`` is one of OPERATORS, ``in``, ``not in``, ``like`` or
    ``not like`` (``literal`` is then a tuple, or a pattern string). State names are already
    turned into their numbers."""

    field: Field
    op: str
    literal: Any


@dataclass(frozen=True)
class And:
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Or:
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Not:
    operand: "Expr"


Expr = Union[Comparison, And, Or, Not]


@dataclass(frozen=True)
class OrderKey:
    field: Field
    descending: bool = False


# -- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # name, quoted (backticks), string, number, op, punct, end
    text: str
    value: Any
    column: int  # 1-based


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`[^`]*`)
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<punct>[().,\[\]\-])
""", re.VERBOSE)


def _error(text: str, column: int, message: str) -> FilterSyntaxError:
    caret = " " * (column - 1) + "^"
    return FilterSyntaxError(f"{message} (column {column})\n  {text}\n  {caret}", column)


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", r"\1", body)


def _tokens(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _error(text, position + 1, f"Unexpected character {text[position]!r}")
        kind, raw = match.lastgroup, match.group()
        column = position + 1
        position = match.end()
        if kind == "space":
            continue
        if kind == "number":
            number = float(raw)
            value: Any = int(raw) if re.fullmatch(r"[-+]?\d+", raw) else number
        elif kind == "string":
            value = _unescape(raw[1:-1])
        elif kind == "quoted":
            value = raw[1:-1]
        elif kind == "op":
            value = {"==": "=", "<>": "!="}.get(raw, raw)
        else:
            value = raw
        tokens.append(_Token(kind, raw, value, column))
    tokens.append(_Token("end", "", None, len(text) + 1))
    return tokens


# -- the parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise FilterSyntaxError(f"A filter must be a string. Got {text!r}.")
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.position]

    def advance(self) -> _Token:
        token = self.token
        self.position += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.token
        if token.kind == "name" and token.text.lower() == word:
            self.position += 1
            return True
        return False

    def punct(self, char: str) -> bool:
        if self.token.kind == "punct" and self.token.text == char:
            self.position += 1
            return True
        return False

    def fail(self, message: str, token: _Token | None = None) -> FilterSyntaxError:
        token = token or self.token
        found = "the end of the filter" if token.kind == "end" else repr(token.text)
        return _error(self.text, token.column, f"{message}; found {found}")

    def expect_end(self) -> None:
        if self.token.kind != "end":
            raise self.fail("Expected 'and', 'or' or the end of the filter")

    # filter := or
    def parse_or(self) -> Expr:
        expr = self.parse_and()
        while self.keyword("or"):
            expr = Or(expr, self.parse_and())
        return expr

    def parse_and(self) -> Expr:
        expr = self.parse_not()
        while self.keyword("and"):
            expr = And(expr, self.parse_not())
        return expr

    def parse_not(self) -> Expr:
        if self.keyword("not"):
            return Not(self.parse_not())
        if self.punct("("):
            expr = self.parse_or()
            if not self.punct(")"):
                raise self.fail("Expected ')' to close the '('")
            return expr
        return self.parse_comparison()

    def parse_field(self) -> Field:
        token = self.token
        if token.kind != "name" or token.text.lower() in _KEYWORDS:
            raise self.fail(
                "Expected a field: params.NAME, metrics.NAME, user_attrs.NAME, value, "
                "values[i], state, duration or number")
        word = token.text.lower()
        self.advance()
        if word in PREFIXED:
            if not self.punct("."):
                raise self.fail(f"Expected '.' and a name after {word!r} (e.g. {word}.lr)")
            name_token = self.token
            if name_token.kind in ("string", "quoted"):
                self.advance()
                return Field(word, name_token.value, column=token.column)
            if name_token.kind != "name":
                raise self.fail(f"Expected a name after '{word}.'")
            parts = [self.advance().text]
            while self.token.kind == "punct" and self.token.text == "." \
                    and self.tokens[self.position + 1].kind == "name":
                self.advance()
                parts.append(self.advance().text)
            return Field(word, ".".join(parts), column=token.column)
        if word == "values":
            if not self.punct("["):
                raise self.fail("Expected '[' and an objective index after 'values'")
            index = self.token
            if index.kind != "number" or not isinstance(index.value, int) or index.value < 0:
                raise self.fail("Expected an objective index (0, 1, ...)")
            self.advance()
            if not self.punct("]"):
                raise self.fail("Expected ']'")
            return Field("value", index=index.value, column=token.column)
        if word in SCALARS:
            return Field(word, column=token.column)
        raise _error(self.text, token.column,
                     f"Unknown field {token.text!r}: use params.NAME, metrics.NAME, "
                     "user_attrs.NAME, value, values[i], state, duration or number")

    def parse_literal(self, field: Field) -> Any:
        token = self.token
        if token.kind == "number":
            value: Any = token.value
        elif token.kind == "string":
            value = token.value
        elif token.kind == "name" and token.text.lower() in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[token.text.lower()]
        elif token.kind == "name" and field.kind == "state":
            value = token.text
        else:
            raise self.fail(f"Expected a value to compare {field} with (a number, a 'quoted' "
                            "string, true, false or null)")
        self.advance()
        return self.check_literal(field, value, token)

    def check_literal(self, field: Field, value: Any, token: _Token) -> Any:
        if value is None:
            return None
        if field.kind == "state":
            if isinstance(value, str) and value.strip().upper() in TrialState.__members__:
                return int(TrialState[value.strip().upper()])
            names = ", ".join(s.name for s in TrialState)
            raise _error(self.text, token.column,
                         f"Unknown trial state {token.text!r}: use one of {names}")
        if field.kind in NUMERIC and (isinstance(value, (bool, str))):
            raise _error(self.text, token.column,
                         f"{field} holds numbers: compare it with a number, not {token.text}")
        return value

    def parse_comparison(self) -> Expr:
        field = self.parse_field()
        negated = False
        start = self.token
        if self.keyword("not"):
            negated = True
            if self.token.kind != "name" or self.token.text.lower() not in ("in", "like"):
                raise self.fail("Expected 'in' or 'like' after 'not'")
        if self.keyword("in"):
            if not self.punct("("):
                raise self.fail("Expected '(' and a list of values after 'in'")
            items = [self.parse_literal(field)]
            while self.punct(","):
                items.append(self.parse_literal(field))
            if not self.punct(")"):
                raise self.fail("Expected ',' or ')' in the list of values")
            return Comparison(field, "not in" if negated else "in", tuple(items))
        if self.keyword("like"):
            if field.kind in NUMERIC:
                raise _error(self.text, start.column,
                             f"{field} holds numbers: 'like' matches strings only")
            pattern = self.token
            if pattern.kind != "string":
                raise self.fail("Expected a 'quoted' pattern after 'like'")
            self.advance()
            return Comparison(field, "not like" if negated else "like", pattern.value)
        token = self.token
        if token.kind != "op":
            raise self.fail(f"Expected a comparison after {field} (=, !=, <, <=, >, >=, in, "
                            "like)")
        self.advance()
        literal = self.parse_literal(field)
        if literal is None and token.value not in ("=", "!="):
            raise _error(self.text, token.column, "null compares only with = and !=")
        return Comparison(field, token.value, literal)


def parse_filter(text: str | None) -> Expr | None:
    """The AST of a filter, or None for an empty one; raises FilterSyntaxError pointing at the
    column of the mistake."""
    if text is None or not text.strip():
        return None
    parser = _Parser(text)
    expr = parser.parse_or()
    parser.expect_end()
    return expr


def parse_order_by(text: str | None) -> tuple[OrderKey, ...]:
    """The keys of an ``order_by`` string such as ``"-metrics.acc, number asc"``."""
    if text is None or not text.strip():
        return ()
    parser = _Parser(text)
    keys = []
    while True:
        descending = parser.punct("-")
        field = parser.parse_field()
        if parser.keyword("desc"):
            descending = True
        elif parser.keyword("asc"):
            descending = False
        keys.append(OrderKey(field, descending))
        if not parser.punct(","):
            break
    parser.expect_end()
    return tuple(keys)


# -- evaluation in Python (memory storage; the SQL compiler mirrors it) -----------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    return "other"


def like_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression of a ``like`` pattern (``%``, ``_``, backslash escapes)."""
    parts, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def compare(actual: Any, op: str, literal: Any, present: bool = True) -> bool:
    """Whether a value (``present`` False when the trial lacks it) satisfies ``op literal``."""
    if op in ("in", "not in"):
        hit = any(compare(actual, "=", item, present) for item in literal)
        return hit if op == "in" else (present and actual is not None and not hit)
    if literal is None:
        is_null = not present or actual is None
        return is_null if op == "=" else not is_null
    if not present or actual is None:
        return False
    if op in ("like", "not like"):
        if not isinstance(actual, str):
            return False
        hit = like_regex(literal).fullmatch(actual) is not None
        return hit if op == "like" else not hit
    same = _kind(actual) == _kind(literal) and _kind(actual) != "other"
    if op == "=":
        return same and actual == literal
    if op == "!=":
        return not (same and actual == literal)
    if not same or _kind(actual) == "bool":
        return False
    return {"<": actual < literal, "<=": actual <= literal, ">": actual > literal,
            ">=": actual >= literal}[op]


def value_of(field: Field, trial: FrozenTrial,
             last_metrics: Mapping[str, float]) -> tuple[bool, Any]:
    """(present, value) of a field for a trial; NaN counts as missing (SQL cannot hold it)."""
    if field.kind == "params":
        return (field.name in trial.params, trial.params.get(field.name))
    if field.kind == "user_attrs":
        return (field.name in trial.user_attrs, trial.user_attrs.get(field.name))
    if field.kind == "metrics":
        value = last_metrics.get(field.name)
    elif field.kind == "value":
        values = trial.values
        value = values[field.index] if values is not None and len(values) > field.index else None
    elif field.kind == "state":
        value = int(trial.state)
    elif field.kind == "number":
        value = trial.number
    else:  # duration
        duration = trial.duration
        value = None if duration is None else duration / dt.timedelta(seconds=1)
    if isinstance(value, float) and math.isnan(value):
        value = None
    return (value is not None, value)


def matches(expr: Expr | None, trial: FrozenTrial, last_metrics: Mapping[str, float]) -> bool:
    """Whether the trial (with the last values of its metrics) satisfies the filter."""
    if expr is None:
        return True
    if isinstance(expr, And):
        return matches(expr.left, trial, last_metrics) and matches(expr.right, trial,
                                                                   last_metrics)
    if isinstance(expr, Or):
        return matches(expr.left, trial, last_metrics) or matches(expr.right, trial,
                                                                  last_metrics)
    if isinstance(expr, Not):
        return not matches(expr.operand, trial, last_metrics)
    present, value = value_of(expr.field, trial, last_metrics)
    return compare(value, expr.op, expr.literal, present)


_KIND_RANK = {"number": 0, "str": 1, "bool": 2, "other": 3}


def sort_trials(trials: Sequence[FrozenTrial], keys: Sequence[OrderKey],
                last_metrics: Mapping[int, Mapping[str, float]]) -> list[FrozenTrial]:
    """Trials ordered by ``keys`` (missing values last whatever the direction), then number."""
    ordered = sorted(trials, key=lambda t: t.number)
    for key in reversed(keys):  # stable sorts, the last key first
        values = {}
        for trial in ordered:
            present, value = value_of(key.field, trial, last_metrics.get(trial.trial_id, {}))
            if present and value is not None:
                kind = _kind(value)
                values[trial.trial_id] = (_KIND_RANK[kind],
                                          str(value) if kind == "other" else value)
        present = [t for t in ordered if t.trial_id in values]
        present.sort(key=lambda t: values[t.trial_id], reverse=key.descending)
        ordered = present + [t for t in ordered if t.trial_id not in values]
    return ordered


def search(trials: Sequence[FrozenTrial], last_metrics: Mapping[int, Mapping[str, float]],
           filter: str | None = None, order_by: str | None = None, limit: int | None = None,
           offset: int = 0) -> list[FrozenTrial]:
    """The whole search in Python: filter, order, then ``offset`` / ``limit``."""
    expr = parse_filter(filter)
    keys = parse_order_by(order_by)
    check_window(limit, offset)
    found = [t for t in trials if matches(expr, t, last_metrics.get(t.trial_id, {}))]
    if keys:
        found = sort_trials(found, keys, last_metrics)
    end = None if limit is None else offset + limit
    return found[offset:end]


def check_window(limit: int | None, offset: int) -> None:
    """Validates ``limit`` / ``offset`` of a search."""
    from pipetune.errors import InvalidArgumentError

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 0):
        raise InvalidArgumentError(f"The 'limit' argument of search must be an int >= 0 or "
                                   f"None. Got {limit!r}.")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidArgumentError(f"The 'offset' argument of search must be an int >= 0. "
                                   f"Got {offset!r}.")
