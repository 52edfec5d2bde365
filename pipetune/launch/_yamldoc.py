"""A YAML document read with the line of every key and value, and checked accessors whose
errors name the file, the line and the key path (``study.yaml:7: params.lr.low must be a
number, got 'abc'.``). Used by ``pipetune.launch.schema``; nothing here knows the study schema."""

from __future__ import annotations

import difflib
import math
import shlex
from collections.abc import Collection, Mapping
from typing import Any

import yaml

from pipetune.errors import ConfigError

Path = tuple[Any, ...]  # keys (str) and list indexes (int) from the document's root


def dotted(path: Path) -> str:
    """``("params", "lr", "low")`` -> ``params.lr.low``; ``("objective", 1)`` ->
    ``objective[1]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the top level"


def describe(value: Any) -> str:
    """How a wrong value is quoted in a message: scalars as written, containers by kind."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def did_you_mean(word: str, known: Collection[str]) -> str:
    """`` Did you mean 'x'?`` for the closest known word, or an empty string."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


class YamlDoc:
    """The parsed document (plain dicts, lists and scalars) plus the line of each value and
    key, so every check below can point at the line to fix."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines: dict[Path, int] = {}
        self.key_lines: dict[Path, int] = {}
        self._own: dict[Path, bool] = {}
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ConfigError(f"{source}:1: the file is empty; write at least study:, "
                                  "command:, params: and objective:.")
            self.root = self._convert(loader, node, ())
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else 1
            what = (error.problem or error.context or "invalid YAML").strip()
            raise ConfigError(f"{source}:{line}: this is not valid YAML: {what} (column "
                              f"{mark.column + 1 if mark else 1}). Check the indentation and "
                              "quote values holding ': ' or '#'.") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{source}:1: this is not valid YAML: {error}") from None
        finally:
            loader.dispose()

    def _convert(self, loader: yaml.SafeLoader, node: yaml.Node, path: Path) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            own = {id(k) for k, _ in node.value}
            loader.flatten_mapping(node)  # resolves '<<: *anchor' merge keys, merged first
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if not isinstance(key, str):
                    raise ConfigError(f"{self.source}:{line}: the key {key!r} in {dotted(path)} "
                                      "must be a name; quote it.")
                if key in result and self._own.get(path + (key,), True) \
                        and id(key_node) in own:
                    raise ConfigError(
                        f"{self.source}:{line}: {dotted(path + (key,))} appears twice (first on "
                        f"line {self.key_lines[path + (key,)]}); keep one.")
                self.key_lines[path + (key,)] = line
                self._own[path + (key,)] = id(key_node) in own  # a merged key may be overridden
                result[key] = self._convert(loader, value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(loader, item, path + (i,)) for i, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    # -- errors --------------------------------------------------------------------------------

    def line(self, path: Path) -> int:
        """The line of the key naming ``path`` (of the value, for a list item): where a
        reader looks for it, also when the value is a block below. An absent path falls back
        to its nearest present parent, so "missing key" errors point at the section."""
        while path:
            found = self.key_lines.get(path) or self.lines.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return self.lines.get((), 1)

    def error(self, path: Path, message: str) -> ConfigError:
        return ConfigError(f"{self.source}:{self.line(path)}: {message}")

    def wrong(self, path: Path, value: Any, expected: str, fix: str = "") -> ConfigError:
        return self.error(path, f"{dotted(path)} must be {expected}, got {describe(value)}."
                          + (f" {fix}" if fix else ""))

    # -- checked accessors ---------------------------------------------------------------------

    def mapping(self, path: Path, value: Any, known: Collection[str],
                required: Collection[str] = (), hints: Mapping[str, str] | None = None
                ) -> dict[str, Any]:
        """``value`` as a mapping holding only ``known`` keys and every ``required`` one."""
        if not isinstance(value, dict):
            raise self.wrong(path, value, "a mapping of key: value lines")
        for key in value:
            if key not in known:
                hint = (hints or {}).get(key) or did_you_mean(key, known).strip()
                where = "at the top level" if not path else f"in {dotted(path)}"
                parts = [f"unknown key {key!r} {where}.", hint,
                         f"Known keys: {', '.join(sorted(known))}."]
                raise self.error(path + (key,), " ".join(p for p in parts if p))
        for key in required:
            if key not in value:
                where = "the file" if not path else dotted(path)
                raise self.error(path, f"{where} needs the key {key!r}.")
        return value

    def string(self, path: Path, value: Any, choices: Collection[str] | None = None,
               hints: Mapping[str, str] | None = None) -> str:
        if not isinstance(value, str) or not value.strip():
            expected = f"one of {', '.join(choices)}" if choices else "a non-empty string"
            raise self.wrong(path, value, expected)
        if choices is not None and value not in choices:
            hint = (hints or {}).get(value) or did_you_mean(value, choices).strip()
            raise self.wrong(path, value, f"one of {', '.join(choices)}", hint)
        return value

    def number(self, path: Path, value: Any, minimum: float = -math.inf,
               positive: bool = False) -> float | int:
        """An int or float; a string such as ``1e-4`` counts too, since YAML 1.1 reads numbers
        without a dot or a signed exponent as text."""
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
                or math.isinf(value):
            raise self.wrong(path, value, "a number")
        if positive and value <= 0:
            raise self.wrong(path, value, "a number > 0")
        if value < minimum:
            raise self.wrong(path, value, f"a number >= {minimum:g}")
        return value

    def integer(self, path: Path, value: Any, minimum: int | None = None) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or \
                (minimum is not None and value < minimum):
            raise self.wrong(path, value, "an int" if minimum is None else f"an int >= {minimum}")
        return value

    def boolean(self, path: Path, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.wrong(path, value, "true or false")
        return value

    def argv(self, path: Path, value: Any) -> tuple[str, ...]:
        """A list of arguments, or one string split like a shell would (quotes respected,
        nothing expanded). Numbers become their text."""
        if isinstance(value, str):
            try:
                return tuple(shlex.split(value))
            except ValueError as error:
                raise self.error(path, f"{dotted(path)} cannot be split into arguments: "
                                 f"{error}. Close the quote, or write a list.") from None
        if not isinstance(value, list):
            raise self.wrong(path, value, "a list of arguments or a string")
        items = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                raise self.wrong(path + (i,), item, "a string or a number", "Quote it.")
            items.append(item if isinstance(item, str) else str(item))
        return tuple(items)
