"""The packages a daemon runs, side by side: what ``/api/v1/models`` and the status page show.

One :class:`PackageEntry` per package: the serving ("champion") package and
each shadow ("challenger"), with its identity and provenance, the key
numbers its model card promises (:func:`~monitor.models.numbers.card_numbers`)
and its live scores against GOES (contingency tables, TSS and HSS per
threshold and window, from the GOES verification, which scores every
package apart). Shadows add how many frames they analysed and skipped
(spare capacity only, :mod:`monitor.pipeline.spare`). Shadow packages that
could not start are listed with the reason.

The roster reads the serving package when asked, so after a switch it names
the new one; card numbers are read once per package (``metrics.json`` is
pinned by the package's hashes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from monitor.goes.scores import SkillRow
from monitor.models import ModelPackage
from monitor.models.numbers import CardNumbers, card_numbers
from monitor.models.provenance import ModelIdentity
from monitor.pipeline.shadow import ShadowModel

__all__ = ["ModelRoster", "PackageEntry"]


@dataclass(frozen=True)
class PackageEntry:
    """One package as ``/api/v1/models`` lists it."""

    role: Literal["serving", "shadow"]
    identity: ModelIdentity
    card: CardNumbers
    #: Live scores against GOES (empty while GOES is off or nothing is scored yet).
    live: tuple[SkillRow, ...] = ()
    #: Shadows only: backend, frames analysed and frames skipped.
    backend: str | None = None
    frames: int | None = None
    skipped: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "package": self.identity.label,
                "model": self.identity.to_dict(),
                "synthetic_only": self.identity.provenance.synthetic_only,
                "card": self.card.to_dict(),
                "live": [{k: v for k, v in row.to_dict().items() if k != "package"}
                         for row in self.live],
                "backend": self.backend, "frames": self.frames, "skipped": self.skipped}


class ModelRoster:
    """The daemon's packages, read when asked (see the module docstring).

    Parameters
    ----------
    serving : callable
        The serving package now.
    shadows : sequence of ShadowModel
        The shadow packages that run.
    refused : mapping of str to str
        Shadow package paths that could not start, with the reason.
    scores : callable, optional
        Every package's live scores (the GOES monitor's ``scores``); None when
        GOES verification is off.
    """

    def __init__(self, serving: Callable[[], ModelPackage], shadows: Sequence[ShadowModel],
                 refused: Mapping[str, str],
                 scores: Callable[[], list[SkillRow]] | None = None) -> None:
        self._serving = serving
        self._shadows = tuple(shadows)
        self._refused = refused
        self._scores = scores
        self._cards: dict[str, CardNumbers] = {}

    def _card(self, package: ModelPackage) -> CardNumbers:
        card = self._cards.get(package.sha256)
        if card is None:
            card = self._cards[package.sha256] = card_numbers(Path(package.path))
        return card

    def entries(self) -> list[PackageEntry]:
        """The serving package first, then the shadows in configuration order."""
        rows = self._scores() if self._scores is not None else []

        def live(label: str) -> tuple[SkillRow, ...]:
            return tuple(row for row in rows if row.package == label)

        serving = self._serving()
        out = [PackageEntry("serving", serving.identity, self._card(serving),
                            live(serving.identity.label))]
        out += [PackageEntry("shadow", s.identity, self._card(s.package), live(s.label),
                             s.backend, s.analysed, s.skipped) for s in self._shadows]
        return out

    def to_dict(self) -> dict[str, Any]:
        """The ``/api/v1/models`` body."""
        return {"packages": [entry.to_dict() for entry in self.entries()],
                "refused": [{"path": path, "reason": reason}
                            for path, reason in sorted(self._refused.items())]}
