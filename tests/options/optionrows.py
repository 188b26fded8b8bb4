"""The table behind the option tests: which test shows that each config option acts.

Every leaf of the config schema (:func:`schema_paths`) needs one of

* a :class:`Row` in a ``test_options_rows_*`` module: two values and a probe
  that builds the component the option configures (through the constructor or
  factory the daemon uses) and returns what it *does* -- a refusal, an alert,
  a delay, a topic name, a count. The two observations must differ, so a row
  fails when the option is ignored;
* an entry in ``ELSEWHERE``: a test elsewhere in the suite that varies the
  option and asserts on the difference (its source must name the option);
* an entry in ``EXEMPT``: why no CPU test can show it, naming the test that
  covers it where it can run (a GPU test, for instance).

Paths are YAML paths; the members of ``feeds`` are told apart by kind
(``feeds[http].lookback_s``).
"""

from __future__ import annotations

import dataclasses
import tempfile
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Row", "schema_paths", "scratch"]

# every probe's files under one directory, removed when the test process ends
_SCRATCH = tempfile.TemporaryDirectory(prefix="sdo-monitor-options-")


def scratch(prefix: str) -> Path:
    """A new empty directory for one probe (probes are plain functions, not fixtures)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_SCRATCH.name))


@dataclass(frozen=True)
class Row:
    """Option ``path`` set to ``a`` and to ``b``; ``probe(value)`` observes the effect."""

    path: str
    a: Any
    b: Any
    probe: Callable[[Any], Any]

    def check(self) -> None:
        seen_a, seen_b = self.probe(self.a), self.probe(self.b)
        assert seen_a != seen_b, (
            f"{self.path}: {self.a!r} and {self.b!r} behave the same ({seen_a!r}): "
            "the option is ignored")


def _kind(cls: type) -> str:
    return typing.get_type_hints(cls)["kind"].__args__[0]


def schema_paths(cls: type, prefix: str = "") -> Iterator[str]:
    """Every leaf option under ``cls`` (nested sections are walked, not listed)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        members = [t for t in (typing.get_args(tp) or (tp,)) if dataclasses.is_dataclass(t)]
        members += [u for t in typing.get_args(tp) for u in typing.get_args(t)
                    if dataclasses.is_dataclass(u)]
        if not members:
            yield f"{prefix}{f.name}"
        elif len(members) == 1:
            yield from schema_paths(members[0], f"{prefix}{f.name}.")
        else:
            for member in members:
                yield from schema_paths(member, f"{prefix}{f.name}[{_kind(member)}].")
