"""Model switches: a new package loaded, verified and warmed up beside the serving one.

What starts a switch:

* ``SIGHUP`` (``systemctl reload sdo-monitor``): reload the package
  ``inference.model_package`` names now, whatever it points to;
* the watch: when ``inference.model_package`` is a symlink (the layout
  ``sdo-monitor promote`` keeps), its resolved target is polled every
  ``inference.package_watch_s`` seconds, and a new target is switched to.
  A package rewritten in place under the same directory is not noticed by
  the watch; ``SIGHUP`` reloads it.

A switch loads and verifies the package (hashes, ONNX/torch parity, as at
start), checks that it reads the same channels on the same grid as the
serving one (the ingest stage prepares frames for that grid), loads it onto a
backend and builds its TensorRT engine where one is needed, warms it up, and
only then hands it to the :class:`~monitor.pipeline.serving.Champion`: the
frames in flight finish on the old package, the next frame uses the new one.
Any failure leaves the old package serving and is reported three ways: the
last refusal on ``/readyz`` (degraded, with its reason) until a later switch
succeeds or the watched path points back at the serving package; one log
line with its reason code; ``sdo_monitor_model_switches_total{result}`` and
``sdo_monitor_model_switch_refusals_total{reason}``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from monitor.inference import BackendError, BackendUnavailableError
from monitor.logs import get_logger
from monitor.models import (
    ModelPackage,
    PackageFileMissingError,
    PackageFormatError,
    PackageHashMismatchError,
    PackageParityError,
    load_package,
)
from monitor.models.promotion import input_mismatch
from monitor.models.provenance import ModelIdentity
from monitor.observe.metrics import Metrics
from monitor.pipeline.serving import Champion, ServingModel

__all__ = ["SWITCH_REASONS", "SWITCH_RESULTS", "ModelSwitcher", "PackageWatch", "SwitchOutcome",
           "refusal_reason", "show_model"]

log = get_logger(__name__)

SwitchResult = Literal["switched", "unchanged", "refused"]
SWITCH_RESULTS: tuple[SwitchResult, ...] = ("switched", "unchanged", "refused")

#: Why a package was refused (closed set: a metric label and the log's reason code).
SWITCH_REASONS = {
    "package_missing": "the package directory or one of its files does not exist",
    "hash_mismatch": "a file's sha256 or size differs from model.json (tampered, half-copied)",
    "package_format": "model.json or a file does not follow the package contract",
    "parity_failed": "ONNX and torch disagree on the probe input",
    "input_mismatch": "the package reads other channels or another grid than the serving one",
    "backend_unavailable": "no inference backend could load the package",
    "backend_build_failed": "the package's target backend (a TensorRT engine) failed to build",
    "load_failed": "anything else that went wrong while loading (see the log line)",
}


@dataclass(frozen=True)
class SwitchOutcome:
    """What one switch attempt did."""

    result: SwitchResult
    #: A :data:`SWITCH_REASONS` code when refused, else "".
    reason: str
    detail: str
    #: The package directory the attempt read.
    target: str
    #: The package serving after the attempt.
    serving: ModelIdentity
    #: Unix time the attempt ended.
    at: float

    def to_dict(self) -> dict[str, Any]:
        """``/api/v1/status``'s ``model_switch``."""
        return {"result": self.result, "reason": self.reason, "detail": self.detail,
                "target": self.target, "serving": self.serving.to_dict(), "at": self.at}

    @property
    def problem(self) -> str | None:
        """The degraded state a refusal leaves until it is resolved, in words."""
        if self.result != "refused":
            return None
        return (f"model switch refused ({self.reason}): {self.detail[:300]}; "
                f"still serving {self.serving.label}")


def show_model(metrics: Metrics, model: ModelIdentity) -> None:
    """The serving package in the model-info gauge and the log, provenance included (at start
    and after every switch)."""
    metrics.model_info.info({"name": model.name, "version": model.version,
                             "sha256": model.sha256, "provenance": model.provenance.data})
    log.info("serving model", model=model.label, sha256=model.sha256[:12],
             provenance=model.provenance.describe())
    if model.provenance.synthetic_only:
        log.warning("the serving model was trained on synthetic data only: its alerts are "
                    "not validated on the real Sun", model=model.label)


def refusal_reason(exc: BaseException) -> str:
    """The :data:`SWITCH_REASONS` code of a loading failure."""
    for kind, reason in ((PackageFileMissingError, "package_missing"),
                         (PackageHashMismatchError, "hash_mismatch"),
                         (PackageParityError, "parity_failed"),
                         (PackageFormatError, "package_format"),
                         (BackendUnavailableError, "backend_unavailable"),
                         (BackendError, "backend_build_failed")):
        if isinstance(exc, kind):
            return reason
    return "load_failed"


class PackageWatch:
    """Notices when a package path (normally a symlink) resolves to a new directory.

    Parameters
    ----------
    path : Path
        ``inference.model_package`` as configured (not resolved).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen = self.target()

    def target(self) -> Path:
        """Where the path leads now (``os.path.realpath``: every link followed)."""
        return Path(os.path.realpath(self.path))

    def changed(self) -> bool:
        """True once per change of the resolved target."""
        now = self.target()
        if now == self._seen:
            return False
        self._seen = now
        return True


class ModelSwitcher:
    """Switches the champion to the package at ``path`` when asked or when it changes.

    Parameters
    ----------
    champion : Champion
        The serving model.
    path : Path
        ``inference.model_package`` as configured (a symlink for the watch).
    verify : bool
        ``inference.verify_package``: hashes and parity, as at start.
    open_model : callable
        ``await open_model(package)`` -> a warm :class:`ServingModel` (engine built).
    requests : asyncio.Event
        Set by ``SIGHUP``; the switcher clears it when it starts the reload.
    watch_s : float
        Poll period of the symlink watch; 0 turns the watch off.
    metrics : Metrics
        Switches by result, refusals by reason.
    on_switched : callable
        Told the identity of every new serving package.
    """

    def __init__(self, *, champion: Champion, path: Path, verify: bool,
                 open_model: Callable[[ModelPackage], Awaitable[ServingModel]],
                 requests: asyncio.Event, watch_s: float, metrics: Metrics,
                 on_switched: Callable[[ModelIdentity], None]) -> None:
        self._champion = champion
        self._watch = PackageWatch(path)
        self._verify = verify
        self._open = open_model
        self._requests = requests
        self._watch_s = watch_s
        self._metrics = metrics
        self._on_switched = on_switched
        self.last: SwitchOutcome | None = None

    def problem(self) -> str | None:
        """The standing refusal (degraded) or None."""
        return self.last.problem if self.last is not None else None

    async def run(self) -> None:
        """Wait for ``SIGHUP`` or a new symlink target, switch, repeat (until cancelled)."""
        while True:
            try:
                timeout = self._watch_s if self._watch_s > 0 else None
                await asyncio.wait_for(self._requests.wait(), timeout)
            except TimeoutError:
                if not self._watch.changed():
                    continue
                log.info("model package link changed", path=str(self._watch.path),
                         target=str(self._watch.target()))
            else:
                self._requests.clear()
                self._watch.changed()  # what SIGHUP loads is the target now
                log.info("reload requested (SIGHUP)", path=str(self._watch.path))
            await self.switch()

    async def switch(self) -> SwitchOutcome:
        """Load the package the path leads to now and serve it, or refuse it."""
        target = self._watch.target()
        serving = self._champion.current()
        try:
            package = await asyncio.to_thread(load_package, target, self._verify)
            if package.sha256 == serving.package.sha256:
                return self._record("unchanged", "", "already serving this package", target)
            mismatch = input_mismatch(serving.package, package)
            if mismatch:
                return self._record("refused", "input_mismatch", mismatch, target)
            model = await self._open(package)
        except Exception as exc:  # noqa: BLE001 - whatever fails, the old package serves on
            return self._record("refused", refusal_reason(exc), f"{type(exc).__name__}: {exc}",
                                target)
        await self._champion.replace(model)
        self._on_switched(model.identity)
        return self._record("switched", "", f"from {serving.identity.label} "
                                            f"({serving.identity.sha256[:12]})", target)

    def _record(self, result: SwitchResult, reason: str, detail: str,
                target: Path) -> SwitchOutcome:
        outcome = SwitchOutcome(result, reason, detail, str(target), self._champion.identity,
                                time.time())
        self.last = outcome
        self._metrics.model_switches.labels(result).inc()
        kv = {"result": result, "target": str(target), "serving": outcome.serving.label,
              "sha256": outcome.serving.sha256[:12], "detail": detail}
        if result == "refused":
            self._metrics.model_switch_refusals.labels(reason).inc()
            log.error("model switch refused", reason=reason, **kv)
        else:
            log.info(f"model switch: {result}", **kv)
        return outcome

