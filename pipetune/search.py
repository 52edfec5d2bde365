"""The trial search language: ``params.lr > 0.01 and metrics.val_rmse < 3 and state = COMPLETE``.

A tokenizer and a recursive-descent parser turn a filter into a small AST (``Comparison``,
``And``, ``Or``, ``Not``); SQL storages compile it to bound SQLAlchemy expressions
(``pipetune.storage.sql.search``), the memory storage and the dashboard evaluate it here
(``select``). Both follow
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

Limits, so that one request to a server cannot take it over: a filter or ``order_by`` holds at
most ``MAX_FILTER_LENGTH`` characters and ``MAX_CONDITIONS`` comparisons, and nests ``not`` /
parentheses at most ``MAX_DEPTH`` deep; ``limit`` and ``offset`` are at most ``MAX_WINDOW``.
Evaluated in Python, a filter costs each trial at most its comparisons, ``like`` included
(``like_matcher`` never backtracks): 10,000 trials take about a second at worst.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import operator
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.errors import FilterSyntaxError

__all__ = ["MAX_CONDITIONS", "MAX_DEPTH", "MAX_FILTER_LENGTH", "MAX_WINDOW", "And", "Comparison",
           "Expr", "Field", "Not", "Or", "OrderKey", "check_params", "compare", "condition",
           "parse_filter", "parse_order_by", "search", "select", "value_of"]

PREFIXED = ("params", "metrics", "user_attrs")
SCALARS = ("value", "state", "duration", "number")  # plus values[i]
NUMERIC = ("value", "state", "duration", "number", "metrics")  # compared with numbers only
OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
_KEYWORDS = {"and", "or", "not", "in", "like", "true", "false", "null", "asc", "desc"}
MAX_FILTER_LENGTH = 500  # characters
MAX_DEPTH = 20  # nested 'not' and parentheses
MAX_CONDITIONS = 32  # comparisons in one filter (an 'in' list is one)
MAX_WINDOW = 10**9  # the largest limit or offset


# -- the AST -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """What a comparison reads: ``kind`` is one of PREFIXED with ``name``, or a scalar
    (``value`` with the objective ``index``, ``state``, ``duration``, ``number``)."""

    kind: str
    name: str = ""  # what a PREFIXED kind reads: "lr" of params.lr; "" for the scalars
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
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    operand: Expr


Expr = Comparison | And | Or | Not


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
        assert kind is not None  # every alternative of _TOKEN is a named group
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
        if len(text) > MAX_FILTER_LENGTH:
            raise FilterSyntaxError(
                f"A filter or order_by holds at most {MAX_FILTER_LENGTH} characters; this one has "
                f"{len(text)}: select with fewer conditions (e.g. a range instead of a long "
                "'in' list).")
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0
        self.depth = 0
        self.conditions = 0

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
        token = self.token
        if (token.kind == "name" and token.text.lower() == "not") or \
                (token.kind == "punct" and token.text == "("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _error(self.text, token.column,
                             f"The filter nests 'not' and parentheses more than {MAX_DEPTH} "
                             "deep: write it flatter")
            self.advance()
            if token.text == "(":
                expr = self.parse_or()
                if not self.punct(")"):
                    raise self.fail("Expected ')' to close the '('")
            else:
                expr = Not(self.parse_not())
            self.depth -= 1
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
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise _error(self.text, self.token.column,
                         f"The filter has more than {MAX_CONDITIONS} comparisons: combine "
                         "them (e.g. 'number in (1, 2, 3)' for several '=')")
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


@functools.lru_cache(maxsize=256)
def like_matcher(pattern: str) -> Callable[[str], bool]:
    """Whether a whole string matches a ``like`` pattern (``%``, ``_``, backslash escapes), in
    time proportional to len(string) x len(pattern) whatever the pattern (a ``.*`` regex
    backtracks exponentially on ``'%a%a%a%a%a%b'``).

    The pattern splits at its unescaped ``%`` into segments of characters and ``_``. Each
    segment is a regex of fixed length (no repetition, no alternative: nothing to backtrack);
    the first must match at the start, the last at the end, and each one between is taken at its
    leftmost match: ending as early as possible leaves the most room to the segments after it,
    so no other choice can succeed where that one fails."""
    segments: list[list[str]] = [[]]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            segments[-1].append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char == "%":
            segments.append([])
        else:
            segments[-1].append("." if char == "_" else re.escape(char))
        i += 1
    compiled = [(re.compile("".join(parts), re.DOTALL), len(parts)) for parts in segments]
    (first, first_length), (last, last_length) = compiled[0], compiled[-1]
    if len(compiled) == 1:
        return lambda value: first.fullmatch(value) is not None

    def match(value: str) -> bool:
        start, end = first_length, len(value) - last_length
        if end < start or first.match(value) is None:
            return False
        for middle, _ in compiled[1:-1]:
            found = middle.search(value, start, end)
            if found is None:
                return False
            start = found.end()
        return last.match(value, end) is not None

    return match


def condition(op: str, literal: Any) -> Callable[[bool, Any], bool]:
    """The test ``value op literal`` as a function of (present, value), with its work done once
    (a like pattern compiled, an ``in`` list hashed) for the many trials it is applied to."""
    if op in ("in", "not in"):
        wanted = {(_kind(item), item) for item in literal if item is not None}
        has_null = any(item is None for item in literal)

        def member(present: bool, value: Any) -> bool:
            if not present or value is None:
                return has_null and op == "in"
            kind = _kind(value)
            hit = kind != "other" and (kind, value) in wanted
            return hit if op == "in" else not hit

        return member
    if literal is None:
        if op == "=":
            return lambda present, value: not present or value is None
        return lambda present, value: present and value is not None
    if op in ("like", "not like"):
        like, negated = like_matcher(literal), op == "not like"
        return lambda present, value: (present and isinstance(value, str)
                                       and like(value) != negated)
    kind = _kind(literal)
    if op == "=":
        return lambda present, value: present and _kind(value) == kind != "other" \
            and value == literal
    if op == "!=":
        return lambda present, value: present and value is not None and not (
            _kind(value) == kind != "other" and value == literal)
    if kind in ("bool", "other"):
        return lambda present, value: False
    ordered = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
    return lambda present, value: present and _kind(value) == kind and ordered(value, literal)


def compare(actual: Any, op: str, literal: Any, present: bool = True) -> bool:
    """Whether a value (``present`` False when the trial lacks it) satisfies ``op literal``."""
    return condition(op, literal)(present, actual)


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


def select(expr: Expr | None, trials: Sequence[FrozenTrial],
           last_metrics: Mapping[int, Mapping[str, float]]) -> list[FrozenTrial]:
    """The trials satisfying the filter, in their order. One condition at a time goes over the
    trials whose answer still depends on it (those ``and`` has kept, those ``or`` has not yet
    taken): the per-trial cost is then the conditions' own, not a walk of the whole tree."""
    if expr is None:
        return list(trials)
    if isinstance(expr, And):
        return select(expr.right, select(expr.left, trials, last_metrics), last_metrics)
    if isinstance(expr, Or):
        taken = {id(t) for t in select(expr.left, trials, last_metrics)}
        rest = [t for t in trials if id(t) not in taken]
        taken.update(id(t) for t in select(expr.right, rest, last_metrics))
        return [t for t in trials if id(t) in taken]
    if isinstance(expr, Not):
        excluded = {id(t) for t in select(expr.operand, trials, last_metrics)}
        return [t for t in trials if id(t) not in excluded]
    test, field = condition(expr.op, expr.literal), expr.field
    no_metrics: Mapping[str, float] = {}
    return [t for t in trials
            if test(*value_of(field, t, last_metrics.get(t.trial_id, no_metrics)))]


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
        valued = [t for t in ordered if t.trial_id in values]
        valued.sort(key=lambda t: values[t.trial_id], reverse=key.descending)
        ordered = valued + [t for t in ordered if t.trial_id not in values]
    return ordered


def search(trials: Sequence[FrozenTrial], last_metrics: Mapping[int, Mapping[str, float]],
           filter: str | None = None, order_by: str | None = None, limit: int | None = None,
           offset: int = 0) -> list[FrozenTrial]:
    """The whole search in Python: filter, order, then ``offset`` / ``limit``."""
    expr = parse_filter(filter)
    keys = parse_order_by(order_by)
    check_window(limit, offset)
    found = select(expr, trials, last_metrics)
    if keys:
        found = sort_trials(found, keys, last_metrics)
    end = None if limit is None else offset + limit
    return found[offset:end]


def check_window(limit: int | None, offset: int) -> None:
    """Validates ``limit`` / ``offset`` of a search."""
    from pipetune.errors import InvalidArgumentError

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or not 0 <= limit <= MAX_WINDOW):
        raise InvalidArgumentError(f"The 'limit' argument of search must be an int in 0.."
                                   f"{MAX_WINDOW} or None (no limit). Got {limit!r}.")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_WINDOW:
        raise InvalidArgumentError(f"The 'offset' argument of search must be an int in 0.."
                                   f"{MAX_WINDOW}. Got {offset!r}.")


def check_params(filter: str | None, order_by: str | None, params: Collection[str]) -> None:
    """Raises FilterSyntaxError, pointing at it, at the first ``params.NAME`` of ``filter`` or
    ``order_by`` that is none of ``params`` (the study's): a misspelt name would otherwise
    match no trial, or sort by nothing, without a word."""
    for text, fields in ((filter, _fields(parse_filter(filter))),
                         (order_by, [key.field for key in parse_order_by(order_by)])):
        for field in fields:
            if field.kind == "params" and field.name not in params:
                known = ", ".join(sorted(params)) or "none yet"
                raise _error(str(text), field.column,
                             f"The study has no param {field.name!r}; its params: {known}")


def _fields(expr: Expr | None) -> list[Field]:
    """The fields ``expr`` compares, in the order they are written."""
    if expr is None:
        return []
    if isinstance(expr, Comparison):
        return [expr.field]
    if isinstance(expr, Not):
        return _fields(expr.operand)
    return _fields(expr.left) + _fields(expr.right)
