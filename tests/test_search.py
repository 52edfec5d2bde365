"""The search language's parser: what it builds, and where it says a filter is wrong. (Which
trials a filter selects on every storage is the storage contract's filter table:
``pipetune.testing._storage_tracking``.)"""

from __future__ import annotations

import pytest

from pipetune.datatypes import TrialState
from pipetune.errors import FilterSyntaxError, PipetuneError
from pipetune.search import (
    And,
    Comparison,
    Field,
    Not,
    Or,
    OrderKey,
    compare,
    parse_filter,
    parse_order_by,
)


def test_precedence_not_then_and_then_or() -> None:
    expr = parse_filter("not number = 1 or value < 2 and state = complete")
    assert isinstance(expr, Or)
    assert isinstance(expr.left, Not) and isinstance(expr.right, And)
    assert expr.right.right == Comparison(Field("state", column=33), "=",
                                          int(TrialState.COMPLETE))


def test_fields_names_and_literals() -> None:
    expr = parse_filter("params.`learning rate` >= 1e-3 AND user_attrs.'a.b' IN (1, 'x', true,"
                        " null) AND metrics.val.rmse != -2 AND values[1] <> 0.5")
    comparisons = []
    while isinstance(expr, And):
        comparisons.insert(0, expr.right)
        expr = expr.left
    comparisons.insert(0, expr)
    assert [(c.field.kind, c.field.name, c.op, c.literal) for c in comparisons] == [
        ("params", "learning rate", ">=", 0.001), ("user_attrs", "a.b", "in", (1, "x", True, None)),
        ("metrics", "val.rmse", "!=", -2), ("value", "", "!=", 0.5)]
    assert comparisons[-1].field.index == 1


def test_empty_filter_is_none_and_strings_unescape() -> None:
    assert parse_filter("") is None and parse_filter("   ") is None
    assert parse_filter(r"params.s = 'it\'s'").literal == "it's"
    assert parse_filter('params.s not like "a\\%%"').op == "not like"


@pytest.mark.parametrize(("text", "column", "says"), [
    ("params.lr >", 12, "Expected a value"),
    ("params.lr > 0.1 and", 20, "Expected a field"),
    ("params.lr 0.1", 11, "Expected a comparison"),
    ("parms.lr > 0.1", 1, "Unknown field 'parms'"),
    ("params > 1", 8, "Expected '.'"),
    ("state = DONE", 9, "Unknown trial state 'DONE'"),
    ("metrics.loss < 'low'", 16, "holds numbers"),
    ("value like 'a%'", 7, "'like' matches strings only"),
    ("(number = 1", 12, "Expected ')'"),
    ("number in (1, 2", 16, "Expected ',' or ')'"),
    ("number = 1 number = 2", 12, "Expected 'and', 'or'"),
    ("params.x = '1'; DROP TABLE trials; --", 15, "Unexpected character ';'"),
    ("params.x < null", 10, "null compares only with = and !="),
    ("params.x = adam", 12, "Expected a value"),
])
def test_errors_point_at_the_column_of_the_mistake(text: str, column: int, says: str) -> None:
    with pytest.raises(FilterSyntaxError) as raised:
        parse_filter(text)
    error = raised.value
    assert isinstance(error, PipetuneError) and isinstance(error, ValueError)
    assert error.column == column
    message = str(error)
    assert says in message and f"(column {column})" in message
    *_, shown, caret = message.splitlines()
    assert shown.strip() == text
    assert caret.index("^") == shown.index(text) + column - 1


def test_order_by_keys() -> None:
    assert parse_order_by("-value, metrics.acc DESC, number asc, params.lr") == (
        OrderKey(Field("value", column=2), True), OrderKey(Field("metrics", "acc", column=9), True),
        OrderKey(Field("number", column=27), False),
        OrderKey(Field("params", "lr", column=39), False))
    assert parse_order_by(None) == () and parse_order_by("") == ()
    with pytest.raises(FilterSyntaxError, match="column 7"):
        parse_order_by("value sideways")


@pytest.mark.parametrize(("actual", "op", "literal", "expected"), [
    (1, "=", 1.0, True), (True, "=", 1, False), (True, "!=", 1, True), ("a", "<", "b", True),
    ("a", "<", 1, False), (None, "=", None, True), (3, "!=", None, True), (None, "<", 1, False),
    ("adam", "like", "a_a%", True), ("Adam", "like", "a%", False), ("50%", "like", r"50\%", True),
    ([1], "=", 1, False), ([1], "!=", 1, True), (2, "in", (1, 2), True),
    (2, "not in", (1, None), True), (True, "<", 2, False),
])
def test_comparison_semantics(actual: object, op: str, literal: object, expected: bool) -> None:
    assert compare(actual, op, literal) is expected


def test_missing_values_match_only_null() -> None:
    assert compare(None, "=", None, present=False)
    assert not compare(None, "!=", 1, present=False)
    assert not compare(None, "not in", (1,), present=False)
