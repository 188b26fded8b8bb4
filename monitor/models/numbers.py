"""A package's key numbers from its ``metrics.json``: what its model card promises.

The held-out evaluation (``train --evaluate``) writes ``metrics.json``: its
``targets`` (each with the measured value, the goal and whether it was met)
and, per GOES threshold, the test split's TSS and HSS. These are the numbers
an operator sets beside the package's live scores against GOES
(``/api/v1/models``, ``sdo-monitor verify --compare``): a package whose live
TSS falls far below its card's did not meet the real Sun it was promised on.

Never raises: a file that is missing, unreadable or of another shape gives
``status`` ``missing`` or ``unreadable`` and no numbers (a package written
without an evaluation says ``not evaluated`` itself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CardNumbers", "CardTarget", "card_numbers"]


@dataclass(frozen=True)
class CardTarget:
    """One target of the evaluation: e.g. ``TSS >= M``, measured 0.94, goal ``>= 0.9``."""

    target: str
    value: float | None
    goal: str
    met: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "value": self.value, "goal": self.goal, "met": self.met}


@dataclass(frozen=True)
class CardNumbers:
    """The key numbers of a package's held-out evaluation."""

    status: str
    targets: tuple[CardTarget, ...] = ()
    #: Test split TSS and HSS per threshold letter (``C``, ``M``, ``X``).
    test_tss: dict[str, float] | None = None
    test_hss: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "targets": [t.to_dict() for t in self.targets],
                "test_tss": self.test_tss, "test_hss": self.test_hss}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _per_threshold(metrics: dict[str, Any], key: str) -> dict[str, float] | None:
    test = metrics.get("test")
    classification = test.get("classification") if isinstance(test, dict) else None
    thresholds = (classification.get("thresholds") if isinstance(classification, dict)
                  else None)
    if not isinstance(thresholds, dict):
        return None
    out = {}
    for name, row in thresholds.items():
        value = _number(row.get(key)) if isinstance(row, dict) else None
        if value is not None:
            out[str(name).removeprefix(">=")] = value
    return out or None


def card_numbers(package_dir: Path) -> CardNumbers:
    """The key numbers of the package in ``package_dir`` (see the module docstring)."""
    try:
        metrics = json.loads((Path(package_dir) / "metrics.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return CardNumbers("missing")
    except (OSError, ValueError):
        return CardNumbers("unreadable")
    if not isinstance(metrics, dict):
        return CardNumbers("unreadable")
    listed = metrics.get("targets")
    targets = tuple(CardTarget(str(t.get("target", "")), _number(t.get("value")),
                               str(t.get("goal", "")),
                               t.get("met") if isinstance(t.get("met"), bool) else None)
                    for t in (listed if isinstance(listed, list) else [])
                    if isinstance(t, dict))
    return CardNumbers(str(metrics.get("status", "unknown"))[:64], targets,
                       _per_threshold(metrics, "tss"), _per_threshold(metrics, "hss"))
