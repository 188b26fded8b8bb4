"""Live verification per model package: one :class:`~monitor.goes.verify.Verifier` each.

The serving package and every shadow package are scored apart on the same
GOES truth, so a challenger's contingency tables sit beside the champion's.
:class:`PackageVerifiers` owns that set: it makes a package's verifier on
first use, refuses a package past :data:`MAX_PACKAGES` (a misbehaving
publisher must not grow memory without bound), and saves and restores every
package's scored pairs for a restart. Its counting methods return the
prediction outcomes they caused as plain ``{reason: n}`` increments, so the
owner decides where counts go.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from monitor.goes.samples import FluxSeries
from monitor.goes.scores import SkillRow
from monitor.goes.settings import VerificationSettings
from monitor.goes.verify import Verifier

__all__ = ["DEFAULT_PACKAGE", "MAX_PACKAGES", "PackageVerifiers"]

#: The package of frames observed without one (offline tools, tests).
DEFAULT_PACKAGE = ""
#: Packages scored at once (the serving one, a few shadows, one switched out).
MAX_PACKAGES = 8


class PackageVerifiers:
    """The verifiers of every scored package (see the module docstring).

    Parameters
    ----------
    settings : VerificationSettings
        The ``goes.verification`` section, the same for every package.
    series : FluxSeries
        The GOES flux history every verifier looks truth up in.
    clock : callable
        Monotonic seconds for each verifier's ``max_wait_s``.
    """

    def __init__(self, settings: VerificationSettings, series: FluxSeries,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.series = series
        self.clock = clock
        self.by_package: dict[str, Verifier] = {}

    def get(self, package: str) -> Verifier | None:
        """The verifier of one package, made on first use; None past
        :data:`MAX_PACKAGES` packages (the default package always has room)."""
        verifier = self.by_package.get(package)
        if verifier is None:
            if len(self.by_package) >= MAX_PACKAGES and package != DEFAULT_PACKAGE:
                return None
            verifier = Verifier(self.settings, self.series, self.clock)
            self.by_package[package] = verifier
        return verifier

    @property
    def pending(self) -> int:
        """Predictions of every package waiting for GOES truth."""
        return sum(v.pending for v in self.by_package.values())

    def observe(self, package: str, frame_id: str, t_obs: float,
                class_probabilities: Mapping[str, float] | None,
                predicted_class: str | None) -> tuple[str, dict[str, int]]:
        """Record one package's prediction; returns its outcome (``pending``,
        ``scored`` or why it was dropped) and the prediction counts it added
        (an overflow also drops an older prediction)."""
        verifier = self.get(package)
        if verifier is None:
            return "too_many_packages", {"too_many_packages": 1}
        before = self._counts()
        outcome = verifier.observe(frame_id, t_obs, class_probabilities, predicted_class)
        return outcome, self._added_since(before)

    def resolve(self) -> dict[str, int]:
        """Score what the GOES data now cover, in every package; returns the
        prediction counts that added (scored, no data, timed out)."""
        before = self._counts()
        for verifier in self.by_package.values():
            verifier.resolve()
        return self._added_since(before)

    def scores(self) -> list[SkillRow]:
        """Contingency table, TSS and HSS per package, threshold and window."""
        return [dataclasses.replace(row, package=package)
                for package, verifier in self.by_package.items()
                for row in verifier.scores.rows()]

    def snapshot(self) -> dict[str, Any]:
        """Scored pairs per package for a restart (the rolling windows survive it)."""
        return {"version": 2, "packages": {package: verifier.scores.snapshot()
                                           for package, verifier in self.by_package.items()}}

    def restore(self, state: Mapping[str, Any], unnamed_as: str = DEFAULT_PACKAGE) -> int:
        """Restore :meth:`snapshot`; returns the pairs restored (0 if incompatible).

        A version-1 snapshot (one package, unnamed) is restored as package
        ``unnamed_as`` (the daemon passes its serving package).
        """
        if state.get("version") == 1:
            packages = {unnamed_as: state.get("scores", {})}
        elif state.get("version") == 2 and isinstance(state.get("packages"), Mapping):
            packages = state["packages"]
        else:
            return 0
        restored = 0
        for package, scores in packages.items():
            verifier = self.get(str(package))
            if verifier is not None and isinstance(scores, Mapping):
                restored += verifier.scores.restore(scores)
        return restored

    def _counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for verifier in self.by_package.values():
            total.update(verifier.counts)
        return total

    def _added_since(self, before: Counter[str]) -> dict[str, int]:
        return {reason: n - before.get(reason, 0) for reason, n in self._counts().items()
                if n > before.get(reason, 0)}
