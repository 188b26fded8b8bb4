"""When a shadow package may run: spare capacity only.

Shadow packages (:mod:`monitor.pipeline.shadow`) must never slow the serving
package down, so they run on a frame only when the pipeline is not behind.
:class:`SparePolicy` decides that from plain numbers and a clock passed in,
like :class:`~monitor.alerts.AlertEngine` and
:class:`~monitor.pipeline.turns.TurnOrder`: no I/O, no asyncio, one job.

The pipeline is behind, and a shadow analysis is skipped (and counted in
``sdo_monitor_shadow_skipped_total{package}``), when any of these holds at the
moment the serving package's result of the frame is in the outbox, checked
in this order:

``files_waiting``
    input files wait for the ingest stage or are being decoded (the next
    frame is on its way, and decoding needs the cores);
``frames_waiting``
    assembled frames wait in the frames queue for the serving package;
``inference_queued``
    the serving package's batcher holds frames not yet run;
``analyses_running``
    the serving package is analysing other frames right now;
``shadow_busy``
    this shadow package is still running on an earlier frame (at most one
    shadow analysis per package is in flight, so shadows never pile up);
``lagging``
    the frame's result came more than ``max_lag_s`` after its last file
    arrived (the end-to-end lag says the daemon is not keeping up, even if
    the queues happen to be empty at this instant).

Each test is cheap and the first that holds is the reason; None means run.
A shadow that may run then waits, at most a few seconds, until the outbox
has handed everything to the broker (the serving package's messages of the
frame included), so that its CPU burst never delays the serving package's
delivery; an outbox that does not drain in time counts as behind too
(``outbox_backlog``, :class:`~monitor.pipeline.shadow.ShadowStage`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SKIP_REASONS", "Load", "SparePolicy"]

#: Why a shadow analysis was skipped (see the module docstring).
SKIP_REASONS: dict[str, str] = {
    "files_waiting": "input files wait for the ingest stage or are being decoded",
    "frames_waiting": "frames wait in the frames queue for the serving package",
    "inference_queued": "the serving package's batcher holds frames not yet run",
    "analyses_running": "the serving package is analysing other frames",
    "shadow_busy": "this shadow package still runs on an earlier frame",
    "lagging": "the frame's result came more than max_lag_s after its last file",
    # not the policy's: the stage's, before, while or after a shadow runs
    "now_serving": "the shadow package is the serving package now (promoted): the frame's "
                   "serving result is its own",
    "outbox_backlog": "the outbox did not hand the serving package's messages to the broker "
                      "in time",
    "failed": "the shadow analysis raised (logged with the package and frame)",
    "outbox_refused": "the outbox refused the shadow's message (full or failing)",
}


@dataclass(frozen=True)
class Load:
    """How busy the serving side is, read when a frame's result is published."""

    files_waiting: int
    frames_waiting: int
    inference_queued: int
    analyses_running: int


class SparePolicy:
    """Decides whether a shadow package runs on a frame (see the module docstring).

    Parameters
    ----------
    max_lag_s : float
        Longest acceptable time from a frame's last file to its published
        result; beyond it the daemon counts as behind. Default: two minutes,
        ten AIA cadences (12 s), far above a healthy frame's lag (< 1 s on a
        CPU) and well below the live queue's horizon.
    """

    def __init__(self, max_lag_s: float = 120.0) -> None:
        if not max_lag_s > 0:
            raise ValueError("max_lag_s must be > 0")
        self.max_lag_s = max_lag_s

    def skip_reason(self, load: Load, shadow_busy: bool, last_arrival: float,
                    now: float) -> str | None:
        """The reason to skip the shadow analysis, or None to run it.

        ``last_arrival`` and ``now`` are Unix times (the arrival time of the
        frame's last file and the moment of the decision).
        """
        if load.files_waiting > 0:
            return "files_waiting"
        if load.frames_waiting > 0:
            return "frames_waiting"
        if load.inference_queued > 0:
            return "inference_queued"
        if load.analyses_running > 0:
            return "analyses_running"
        if shadow_busy:
            return "shadow_busy"
        if now - last_arrival > self.max_lag_s:
            return "lagging"
        return None
