"""What a model package was trained on, and who a package is: ``provenance`` and identity.

``model.json`` declares its training data::

    "provenance": {"data": "synthetic" | "real" | "mixed",
                   "source": "SDOML v2 (AIA + EVE MEGS-A) with GOES XRS labels",
                   "start": "2011-01-01", "end": "2014-05-26"}

``start`` and ``end`` (ISO dates, UTC) bound the observation dates of the real
data; they are required for ``real`` and ``mixed`` and may be null for
``synthetic`` (a simulated Sun has no calendar). A package that declares
nothing is read as synthetic-only (:data:`UNDECLARED`) and the loader warns:
an operator should never believe a model was trained on the real Sun unless
its package says so.

:class:`ModelIdentity` is what every message, log line, gauge and status
page names: the package's name, version, sha256 (of ``model.json``) and its
provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from monitor.models.transforms import ManifestError, need

__all__ = ["DATA_KINDS", "UNDECLARED", "ManifestError", "ModelIdentity", "Provenance"]

DataKind = Literal["synthetic", "real", "mixed"]
DATA_KINDS: tuple[DataKind, ...] = ("synthetic", "real", "mixed")
_KEYS = ("data", "source", "start", "end")


@dataclass(frozen=True)
class Provenance:
    """The training data of a package (see the module docstring)."""

    data: DataKind
    source: str
    start: date | None = None
    end: date | None = None
    #: False when ``model.json`` said nothing and this is the synthetic-only reading.
    declared: bool = True

    def __post_init__(self) -> None:
        if self.data not in DATA_KINDS:
            raise ManifestError("provenance.data", f"must be one of {', '.join(DATA_KINDS)}, "
                                                   f"got {self.data!r}")
        if not self.source.strip():
            raise ManifestError("provenance.source", "must name where the data came from")
        if self.data != "synthetic" and (self.start is None or self.end is None):
            raise ManifestError("provenance.start", f"{self.data} data needs its date range "
                                                    "(start and end)")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ManifestError("provenance.end", f"{self.end} is before start {self.start}")

    @property
    def synthetic_only(self) -> bool:
        """True when no real observation went into training."""
        return self.data == "synthetic"

    def describe(self) -> str:
        """One line for logs and the status page."""
        span = (f" {self.start.isoformat()}..{self.end.isoformat()}"
                if self.start is not None and self.end is not None else "")
        said = "" if self.declared else " (undeclared in model.json: read as synthetic-only)"
        return f"{self.data}: {self.source}{span}{said}"

    def to_dict(self) -> dict[str, Any]:
        """The ``provenance`` object of ``model.json`` and of the messages."""
        return {"data": self.data, "source": self.source,
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None}

    @classmethod
    def from_dict(cls, data: Any) -> Provenance:
        """Validate ``model.json``'s ``provenance``; errors name the key at fault."""
        if not isinstance(data, dict):
            raise ManifestError("provenance", "must be an object")
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise ManifestError(f"provenance.{unknown[0]}", "unknown key")
        return cls(data=need(data, "data", "provenance", str),
                   source=need(data, "source", "provenance", str),
                   start=_date(data.get("start"), "provenance.start"),
                   end=_date(data.get("end"), "provenance.end"))


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ManifestError(where, f"must be an ISO date (YYYY-MM-DD) or null, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ManifestError(where, f"must be an ISO date (YYYY-MM-DD), got {value!r}") from None


#: How a package without ``provenance`` is read.
UNDECLARED = Provenance(data="synthetic", source="not declared in model.json", declared=False)


@dataclass(frozen=True)
class ModelIdentity:
    """Which package produced a result: what messages, logs and the status page name."""

    name: str
    version: str
    sha256: str
    provenance: Provenance

    @property
    def label(self) -> str:
        """``name:version`` (logs)."""
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """The ``model`` object of the messages."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256,
                "provenance": self.provenance.to_dict()}
