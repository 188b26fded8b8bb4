"""Promotion and rollback of model packages: the decision on live scores, and the install.

Layout (the one ``sdo-monitor promote`` keeps; ``inference.model_package``
names the ``current`` link)::

    /var/lib/sdo-monitor/models/
        sdo-flare-eve-1.2.0-3f5a9c0e12ab/   one directory per installed package
        sdo-flare-eve-1.1.0-9d04be7741c2/
        current  -> sdo-flare-eve-1.2.0-3f5a9c0e12ab   what the daemon serves
        previous -> sdo-flare-eve-1.1.0-9d04be7741c2   what `rollback` returns to

A package is copied in under ``<name>-<version>-<sha256[:12]>`` (a new
directory appears whole: copied beside, verified, renamed), then ``previous``
and ``current`` are replaced, each by a temporary symlink renamed over it
(``os.replace``: a reader sees the old link or the new one, never none). The
daemon notices the new ``current`` target (its watch) or is told with
``systemctl reload``; it verifies the package again before it serves.

:func:`compare_scores` is the decision: live GOES verification scores of
the candidate against the champion's over one window, plain values in,
decision and reasons out.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.atomicfile import atomic_path
from monitor.models.package import ModelPackage, load_package
from monitor.models.verify import verify_files

__all__ = [
    "Decision",
    "LiveScore",
    "PromotionError",
    "compare_scores",
    "daemon_verdict",
    "input_mismatch",
    "install",
    "package_problems",
    "replace_link",
    "rollback",
    "scores_from_models",
]

PREVIOUS = "previous"


class PromotionError(Exception):
    """The models directory is not in a state a promotion or rollback can act on."""


@dataclass(frozen=True)
class LiveScore:
    """One package's live verification against GOES at one threshold over one window."""

    #: The package's sha256.
    package: str
    threshold: str
    window: str
    tss: float | None
    hss: float | None
    #: Frames scored in the window.
    n: int


@dataclass(frozen=True)
class Decision:
    """Whether to promote, and every reason against it (kept when ``--force`` overrides)."""

    promote: bool
    reasons: tuple[str, ...]
    forced: bool = False


def compare_scores(champion: Sequence[LiveScore], candidate: Sequence[LiveScore], *,
                   window: str, min_days: float, frames_per_day: float,
                   force: bool = False) -> Decision:
    """Promote only a candidate at least as good as the champion, live, over ``window``.

    For every threshold either package was scored at: the candidate needs
    ``min_days`` days of scored frames (``n / frames_per_day``), a defined
    TSS, and a TSS and an HSS no lower than the champion's where the
    champion's are defined. Every shortfall is one reason; ``force``
    promotes anyway and keeps the reasons.
    """
    mine = {s.threshold: s for s in candidate if s.window == window}
    theirs = {s.threshold: s for s in champion if s.window == window}
    reasons: list[str] = []
    if not mine:
        reasons.append(f"no live scores for the candidate over the {window} window (run it "
                       "as a shadow package first)")
    for threshold in sorted(set(mine) | set(theirs)):
        ours = mine.get(threshold)
        if ours is None:
            if mine:
                reasons.append(f">={threshold}: the candidate was not scored")
            continue
        days = ours.n / frames_per_day if frames_per_day > 0 else 0.0
        if days < min_days:
            reasons.append(f">={threshold}: {days:.1f} days of live scores, at least "
                           f"{min_days:g} required")
        if ours.tss is None:
            reasons.append(f">={threshold}: the candidate's TSS is undefined (the window "
                           "holds no observed event, or no non-event)")
        champ = theirs.get(threshold)
        for name in ("tss", "hss"):
            mine_v, champ_v = getattr(ours, name), getattr(champ, name) if champ else None
            if mine_v is not None and champ_v is not None and mine_v < champ_v:
                reasons.append(f">={threshold}: {name.upper()} {mine_v:.3f} below the "
                               f"champion's {champ_v:.3f}")
    return Decision(promote=not reasons or force, reasons=tuple(reasons),
                    forced=bool(reasons) and force)


def package_problems(package: ModelPackage) -> list[str]:
    """What makes a verified package unfit to serve: an empty card, no evaluation."""
    problems = []
    if not (package.path / "MODEL_CARD.md").read_text(encoding="utf-8").strip():
        problems.append("MODEL_CARD.md is empty")
    try:
        metrics = json.loads((package.path / "metrics.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        return [*problems, f"metrics.json is not JSON ({exc})"]
    if not isinstance(metrics, dict) or metrics.get("status") == "not evaluated":
        problems.append("metrics.json says the package was not evaluated")
    return problems


def input_mismatch(serving: ModelPackage, candidate: ModelPackage) -> str:
    """Why ``candidate`` cannot take frames prepared for ``serving`` ("" when it can)."""
    a, b = serving.manifest.input, candidate.manifest.input
    if a.channels != b.channels:
        return f"channels {list(b.channels)} differ from the serving {list(a.channels)}"
    if a.size != b.size:
        return f"grid {b.size} px differs from the serving {a.size} px"
    return ""


def replace_link(link: Path, target: Path | str) -> None:
    """Point ``link`` at ``target`` in one step (a temporary symlink renamed over it)."""
    with atomic_path(link) as temp:
        temp.unlink(missing_ok=True)  # left by a crashed run with the same pid
        temp.symlink_to(target)


def _models_dir(link: Path) -> Path:
    if link.exists() and not link.is_symlink():
        raise PromotionError(f"{link} is a directory, not a link: move the package into a "
                             "models directory and point a 'current' link at it "
                             "(docs/operations.md, Promoting a model)")
    return link.parent


def install(package: ModelPackage, link: Path) -> tuple[Path, Path | None]:
    """Copy ``package`` into the models directory and make it ``current``.

    Returns the installed directory and the previous ``current`` target (now
    ``previous``; None at a first install).
    """
    models = _models_dir(link)
    models.mkdir(parents=True, exist_ok=True)
    m = package.manifest
    dest = models / f"{m.name}-{m.version}-{package.sha256[:12]}"
    if not dest.is_dir():
        temp = models / f".{dest.name}.tmp-{os.getpid()}"
        shutil.rmtree(temp, ignore_errors=True)
        try:
            shutil.copytree(package.path, temp)
            verify_files(temp, m)  # the copy, byte for byte what was checked
            os.rename(temp, dest)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
    old = Path(os.path.realpath(link)) if link.is_symlink() else None
    if old is not None and old == dest.resolve():
        return dest, None  # already current: nothing to keep for a rollback
    if old is not None:
        replace_link(models / PREVIOUS, _relative(old, models))
    replace_link(link, dest.name)
    return dest, old


def rollback(link: Path) -> tuple[Path, Path]:
    """Make ``previous`` current again (and the current one ``previous``).

    Returns (the package left, the package restored). The restored package
    is verified (hashes) before the links move.
    """
    models = _models_dir(link)
    previous = models / PREVIOUS
    if not previous.is_symlink():
        raise PromotionError(f"nothing to roll back to: {previous} does not exist")
    back = Path(os.path.realpath(previous))
    now = Path(os.path.realpath(link))
    verify_files(back, load_package(back, verify=False).manifest)
    replace_link(previous, _relative(now, models))
    replace_link(link, _relative(back, models))
    return now, back


def _relative(target: Path, models: Path) -> str | Path:
    """Inside the models directory: the bare name (the directory can move); else absolute."""
    return target.name if target.parent == models.resolve() else target


def scores_from_models(models: dict[str, Any]) -> list[LiveScore]:
    """Live scores from the daemon's ``/api/v1/models`` (serving and shadow packages, each
    with its ``live`` rows; a package is named by its sha256)."""
    out = []
    for entry in models.get("packages") or []:
        if not isinstance(entry, dict):
            continue
        sha = str((entry.get("model") or {}).get("sha256", ""))
        for row in entry.get("live") or []:
            if isinstance(row, dict):
                out.append(LiveScore(
                    package=sha, threshold=str(row.get("threshold")),
                    window=str(row.get("window")), tss=_number(row.get("tss")),
                    hss=_number(row.get("hss")), n=int(row.get("n") or 0)))
    return out


def daemon_verdict(status: dict[str, Any], sha256: str, target: Path,
                   since: float) -> tuple[str, str]:
    """What the daemon's ``/api/v1/status`` says of the package installed at ``target``.

    ``("serving", "")``; ``("refused", why)`` when its last switch attempt
    (at or after ``since``, Unix time) refused that directory; else
    ``("pending", "")``.
    """
    if (status.get("model") or {}).get("sha256") == sha256:
        return "serving", ""
    switch = status.get("model_switch") or {}
    at = switch.get("at")
    if (switch.get("result") == "refused" and switch.get("target") == str(target.resolve())
            and isinstance(at, (int, float)) and at >= since):
        return "refused", f"{switch.get('reason')}: {switch.get('detail')}"
    return "pending", ""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None

