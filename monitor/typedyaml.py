"""Typed configuration from YAML: dataclasses in, errors that name the YAML path out.

Every settings class in the project is a frozen dataclass built from the
standard library only. Constraints live in field metadata so the class stays
the single description of a section::

    @dataclass(frozen=True)
    class FeedSettings:
        cadence_s: float = field(default=12.0, metadata={"gt": 0, "doc": "..."})

Supported metadata keys: ``gt``, ``ge``, ``lt``, ``le``, ``choices``, ``max_len``
(strings; every string and path is bounded by :data:`MAX_STRING_CHARS` anyway),
``doc``.
Supported field types: ``int``, ``float``, ``str``, ``bool``, ``pathlib.Path``,
``Literal[...]``, ``tuple[T, ...]``, ``list[T]``, ``dict[str, T]``,
``T | None``, nested dataclasses, and unions of dataclasses that carry a
``kind: Literal[...]`` field (the YAML's ``kind`` picks the class).
A class may define ``check(self) -> list[tuple[str, str]]`` for cross-field
rules; it returns ``(field_name, message)`` pairs.

All problems of a document are collected, not just the first, and each one
carries its YAML path (``feeds[0].cadence_s``) and line number, because an
operator fixing a config at 3 a.m. wants the whole list at once.

Reading the YAML itself (bounded, with the line of every path) is
:mod:`monitor.yamlread`; its names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from monitor.yamlread import (
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    MAX_STRING_CHARS,
    ConfigError,
    ConfigIssue,
    Marks,
    load_yaml,
    parse_yaml,
)

__all__ = ["MAX_CONFIG_BYTES", "MAX_DEPTH", "MAX_NODES", "MAX_STRING_CHARS", "ConfigError",
           "ConfigIssue", "build", "load_yaml", "override", "parse_yaml"]

T = TypeVar("T")


def build(cls: type[T], data: Any, source: str = "<config>", marks: Marks | None = None) -> T:
    """Build ``cls`` from plain data, raising one ConfigError with every issue found."""
    builder = _Builder(marks or Marks())
    value = builder.convert(cls, data, "")
    if builder.issues:
        raise ConfigError(builder.issues, source)
    return typing.cast(T, value)


def override(settings: T, changes: dict[str, Any], source: str = "<command line>") -> T:
    """A copy of ``settings`` with ``changes`` applied, validated exactly as YAML is.

    ``changes`` maps field names, dotted for nested sections
    (``"tensorrt.engine_cache_dir"``), to new values; a None value means "not
    given" and changes nothing. The result is rebuilt from plain data, so every
    type, bound and cross-field rule runs again: a command-line flag cannot
    produce a settings object the YAML could not.
    """
    data = _plain(settings)
    for dotted, value in changes.items():
        if value is None:
            continue
        *parents, name = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[name] = _plain(value)
    return build(type(settings), data, source)


def _plain(value: Any) -> Any:
    """Settings back to the plain data YAML would give (the inverse of :func:`build`)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name))
                for f in dataclasses.fields(value) if f.init}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


_MISSING = object()


@typing.runtime_checkable
class _Checked(typing.Protocol):
    """A settings class with cross-field rules."""

    def check(self) -> list[tuple[str, str]]: ...


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
                "PosixPath": "path", "Path": "path"}.get(tp.__name__, tp.__name__)
    return str(tp).replace("typing.", "")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Builder:
    def __init__(self, marks: Marks) -> None:
        self.marks = marks
        self.issues: list[ConfigIssue] = []

    def fail(self, path: str, message: str) -> object:
        self.issues.append(ConfigIssue(path, message, self.marks.line(path)))
        return _MISSING

    # -- dispatch -----------------------------------------------------------
    def convert(self, tp: Any, value: Any, path: str) -> Any:
        origin = get_origin(tp)
        if dataclasses.is_dataclass(tp):
            return self.dataclass(tp, value, path)
        if origin in (Union, types.UnionType):
            return self.union(tp, value, path)
        if origin is Literal:
            choices = get_args(tp)
            # Compare types too: YAML's `true` must not match a Literal[1].
            if not any(value == c and type(value) is type(c) for c in choices):
                allowed = ", ".join(repr(c) for c in choices)
                return self.fail(path, f"must be one of {allowed}, got {_describe(value)}")
            return value
        if origin in (list, tuple):
            return self.sequence(tp, value, path)
        if origin is dict:
            return self.mapping(tp, value, path)
        if tp is Any:
            return value
        return self.scalar(tp, value, path)

    def scalar(self, tp: Any, value: Any, path: str) -> Any:
        if tp is bool:
            if isinstance(value, bool):
                return value
            return self.fail(path, f"must be true or false, got {_describe(value)}")
        if tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            return self.fail(path, f"must be an integer, got {_describe(value)}")
        if tp is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value):
                    return self.fail(path, f"must be a finite number, got {value}")
                return float(value)
            return self.fail(path, f"must be a number, got {_describe(value)}")
        if tp in (str, Path) and isinstance(value, str) and len(value) > MAX_STRING_CHARS:
            return self.fail(path, f"must be at most {MAX_STRING_CHARS} characters, "
                                   f"got {len(value)}")
        if tp is str:
            if isinstance(value, str):
                return value
            return self.fail(path, f"must be a string, got {_describe(value)}")
        if tp is Path:
            if isinstance(value, str) and value and "\x00" not in value:
                return Path(value)
            return self.fail(path, f"must be a non-empty path string, got {_describe(value)}")
        if tp is type(None):
            if value is None:
                return None
            return self.fail(path, f"must be null, got {_describe(value)}")
        raise TypeError(f"unsupported settings type {tp!r} at {path}")  # programming error

    def union(self, tp: Any, value: Any, path: str) -> Any:
        members = get_args(tp)
        if value is None and type(None) in members:
            return None
        rest = [m for m in members if m is not type(None)]
        if len(rest) == 1:
            return self.convert(rest[0], value, path)
        if all(dataclasses.is_dataclass(m) for m in rest):
            return self.tagged(rest, value, path)
        # Untagged scalar unions: accept the first member that converts cleanly.
        for member in rest:
            trial = _Builder(self.marks)
            out = trial.convert(member, value, path)
            if not trial.issues:
                return out
        names = " or ".join(_type_name(m) for m in members)
        return self.fail(path, f"must be {names}, got {_describe(value)}")

    def tagged(self, classes: list[Any], value: Any, path: str) -> Any:
        by_kind: dict[Any, Any] = {}
        for cls in classes:
            kind_type = get_type_hints(cls).get("kind")
            for kind in get_args(kind_type):
                by_kind[kind] = cls
        if not isinstance(value, dict):
            return self.fail(path, f"must be a mapping, got {_describe(value)}")
        kind = value.get("kind", _MISSING)
        kinds = ", ".join(repr(k) for k in by_kind)
        if kind is _MISSING:
            return self.fail(f"{path}.kind", f"is required (one of {kinds})")
        if kind not in by_kind:
            return self.fail(f"{path}.kind", f"must be one of {kinds}, got {_describe(kind)}")
        return self.dataclass(by_kind[kind], value, path)

    def sequence(self, tp: Any, value: Any, path: str) -> Any:
        args = get_args(tp)
        item_type = args[0] if args else Any
        if not isinstance(value, list):
            return self.fail(path, f"must be a list, got {_describe(value)}")
        items = [self.convert(item_type, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if get_origin(tp) is tuple else items

    def mapping(self, tp: Any, value: Any, path: str) -> Any:
        key_type, value_type = get_args(tp) or (str, Any)
        if not isinstance(value, dict):
            return self.fail(path, f"must be a mapping, got {_describe(value)}")
        out = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if key_type is str and not isinstance(key, str):
                key = str(key)  # YAML turns `171:` into an int; keys are names here
            out[key] = self.convert(value_type, item, child)
        return out

    # -- dataclasses ----------------------------------------------------------
    def dataclass(self, cls: Any, value: Any, path: str) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            return self.fail(path, f"must be a mapping, got {_describe(value)}")
        hints = get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        for key in value:
            if key not in fields:
                child = f"{path}.{key}" if path else str(key)
                close = difflib.get_close_matches(str(key), list(fields), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.fail(child, f"unknown key{hint}")
        kwargs: dict[str, Any] = {}
        before = len(self.issues)
        for name, f in fields.items():
            child = f"{path}.{name}" if path else name
            if name not in value:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    self.fail(child, "is required")
                continue
            converted = self.convert(hints[name], value[name], child)
            if converted is _MISSING:
                continue
            self.constraints(f, converted, child)
            kwargs[name] = converted
        if len(self.issues) > before:
            return _MISSING
        try:
            obj = cls(**kwargs)
        except (TypeError, ValueError) as exc:
            return self.fail(path, str(exc))
        if isinstance(obj, _Checked):
            for name, message in obj.check():
                self.fail(f"{path}.{name}" if path else name, message)
        return obj

    def constraints(self, f: dataclasses.Field[Any], value: Any, path: str) -> None:
        meta = f.metadata
        if not meta or value is None:
            return
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if "max_len" in meta and isinstance(v, str) and len(v) > meta["max_len"]:
                self.fail(path, f"must be at most {meta['max_len']} characters, got {len(v)}")
                return
            if "choices" in meta and v not in meta["choices"]:
                allowed = ", ".join(repr(c) for c in meta["choices"])
                self.fail(path, f"must be one of {allowed}, got {_describe(v)}")
                return
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            for key, op, word in (("gt", float.__gt__, ">"), ("ge", float.__ge__, ">="),
                                  ("lt", float.__lt__, "<"), ("le", float.__le__, "<=")):
                if key in meta and not op(float(v), float(meta[key])):
                    self.fail(path, f"must be {word} {meta[key]:g}, got {v:g}")
                    return
