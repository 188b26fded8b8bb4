"""Reading a YAML config as outside input: bounded, safe, every path's line kept.

A config is outside input too, so reading one is bounded before anything
grows: the file must be a regular file of at most :data:`MAX_CONFIG_BYTES`
of UTF-8 text, its nesting at most :data:`MAX_DEPTH` deep (checked on the
event stream, before PyYAML's recursive composer sees it) and, with aliases
expanded, at most :data:`MAX_NODES` values (a "billion laughs" document is a
few lines that expand to billions). Each limit is one clear ConfigError.

Errors are :class:`ConfigError`, which carries every :class:`ConfigIssue`
found with its YAML path (``feeds[0].cadence_s``) and line.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_CONFIG_BYTES", "MAX_DEPTH", "MAX_NODES", "MAX_STRING_CHARS", "ConfigError",
           "ConfigIssue", "Marks", "load_yaml", "parse_yaml"]

#: Largest config file read (a full production config is a few kB).
MAX_CONFIG_BYTES = 1024 * 1024
#: Deepest nesting of mappings and lists (a real config needs 4).
MAX_DEPTH = 32
#: Most values in a document once aliases are expanded.
MAX_NODES = 100_000
#: Longest string or path value (a field may lower it with ``max_len`` metadata).
MAX_STRING_CHARS = 4096


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a configuration document."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "<root>"
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """A configuration document is invalid; carries every issue found."""

    def __init__(self, issues: list[ConfigIssue], source: str = "<config>") -> None:
        self.issues = issues
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        lines = []
        for issue in self.issues:
            loc = f"{self.source}:{issue.line}" if issue.line else self.source
            lines.append(f"{loc}: {issue}")
        return "\n".join(lines)


class Marks:
    """YAML path -> 1-based line number of the node, for error messages."""

    def __init__(self) -> None:
        self.lines: dict[str, int] = {}
        # resolves scalar tags (int, float, bool, null, str) like safe_load, per document
        self.scalars = yaml.constructor.SafeConstructor()

    def line(self, path: str) -> int | None:
        # Fall back to the nearest parent that has a mark (a missing key is
        # reported on the line of the mapping that should contain it).
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int:
    """Values in ``node`` with aliases expanded, counted on the shared graph (linear time)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise ConfigError([ConfigIssue("", "an alias refers to a value that contains it "
                                           "(recursive structure)", node.start_mark.line + 1)])
    open_.add(key)
    total = 1
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    for child in children:
        total += _expanded_size(child, sizes, open_)
        if total > MAX_NODES:
            raise ConfigError([ConfigIssue("", f"more than {MAX_NODES} values once aliases are "
                                               "expanded (an alias bomb?)")])
    open_.discard(key)
    sizes[key] = total
    return total


def _node_to_python(node: yaml.Node, path: str, marks: Marks) -> Any:
    marks.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = marks.scalars.construct_object(key_node, deep=True)
            child = f"{path}.{key}" if path else str(key)
            if key in out:
                raise ConfigError(
                    [ConfigIssue(child, "duplicate key", key_node.start_mark.line + 1)]
                )
            out[key] = _node_to_python(value_node, child, marks)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_node_to_python(v, f"{path}[{i}]", marks) for i, v in enumerate(node.value)]
    # Scalars: the safe constructor resolves the tag (int, float, bool, null, str).
    return marks.scalars.construct_object(node, deep=True)


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH from the event stream (iterative, no recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError([ConfigIssue("", f"nested more than {MAX_DEPTH} levels deep",
                                               event.start_mark.line + 1)])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def parse_yaml(text: str, source: str = "<config>") -> tuple[Any, Marks]:
    """Parse YAML text safely, returning the data and the line marks of every path."""
    marks = Marks()
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigIssue("", f"longer than {MAX_CONFIG_BYTES} characters")],
                          source)
    if "\x00" in text:
        raise ConfigError([ConfigIssue("", "holds NUL characters: not a text file")], source)
    try:
        _check_depth(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        marked = isinstance(exc, yaml.MarkedYAMLError)
        line = exc.problem_mark.line + 1 if marked and exc.problem_mark is not None else None
        problem = (exc.problem if marked else None) or str(exc)
        raise ConfigError([ConfigIssue("", f"not valid YAML: {problem}", line)], source) from None
    except ConfigError as exc:
        raise ConfigError(exc.issues, source) from None
    if node is None:
        return {}, marks
    try:
        _expanded_size(node, {}, set())
        return _node_to_python(node, "", marks), marks
    except ConfigError as exc:
        raise ConfigError(exc.issues, source) from None


def _read_config_file(path: Path) -> str:
    # stat first: a FIFO or /dev/zero named as the config must not be read at all
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError([ConfigIssue("", "not a regular file")], str(path))
    if st.st_size > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigIssue("", f"{st.st_size} bytes, more than the "
                                           f"{MAX_CONFIG_BYTES} a config may have")], str(path))
    with open(path, "rb") as handle:
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigIssue("", f"more than {MAX_CONFIG_BYTES} bytes")], str(path))
    if b"\x00" in data:
        raise ConfigError([ConfigIssue("", "holds NUL bytes: a binary file, not YAML")],
                          str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue("", f"not UTF-8 text (byte {exc.start}): a binary "
                                           "file, not YAML")], str(path)) from None


def load_yaml(path: Path) -> tuple[Any, Marks]:
    """Read and parse a YAML file; unreadable, oversized or binary files are a ConfigError."""
    try:
        text = _read_config_file(Path(path))
    except OSError as exc:
        raise ConfigError([ConfigIssue("", f"cannot read file: {exc.strerror or exc}")],
                          str(path)) from None
    return parse_yaml(text, str(path))
