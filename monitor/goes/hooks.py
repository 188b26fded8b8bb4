"""What the GOES monitor tells its owner: counters, the newest flux, queued announcements.

The monitor's state changes synchronously (:meth:`GoesMonitor.ingest` is a
plain call, usable offline), while its owner publishes asynchronously. So
:class:`GoesHooks` calls the cheap hooks at once (``on_count``,
``on_sample``) and queues the ones that publish (``on_event``,
``on_confirmation``) until :meth:`GoesHooks.deliver` is awaited. Every hook
may be a plain function or a coroutine function; one that raises is logged
and never stops the feed. The counts are also kept here, by
``"<family>:<reason>"``, for the status page.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from monitor.goes.events import Confirmation
from monitor.goes.samples import GoesSample
from monitor.logs import get_logger

__all__ = ["GoesHooks", "Hook"]

log = get_logger(__name__)

Hook = Callable[..., Any]


class GoesHooks:
    """The hooks of one GOES monitor (see the module docstring).

    Parameters
    ----------
    on_event : callable, optional
        ``on_event(payload)`` for every ``goes.event.v1`` announcement.
    on_count : callable, optional
        ``on_count(family, reason, n)`` for every counter increment.
    on_sample : callable, optional
        ``on_sample(sample)`` for the newest accepted flux.
    on_confirmation : callable, optional
        ``on_confirmation(alert_id, confirmation)`` once a watched alert is
        closed (a :class:`~monitor.goes.events.Confirmation`, or None).
    """

    def __init__(self, on_event: Hook | None = None, on_count: Hook | None = None,
                 on_sample: Hook | None = None, on_confirmation: Hook | None = None) -> None:
        self.on_event = on_event
        self.on_count = on_count
        self.on_sample = on_sample
        self.on_confirmation = on_confirmation
        self.counts: Counter[str] = Counter()  # "<family>:<reason>"
        self._events: list[dict[str, Any]] = []
        self._confirmations: list[tuple[str, Confirmation | None]] = []

    def count(self, family: str, reason: str, n: int = 1) -> None:
        """Add ``n`` (ignored unless positive) to one counter."""
        if n <= 0:
            return
        self.counts[f"{family}:{reason}"] += n
        self._call(self.on_count, family, reason, n)

    def count_all(self, family: str, increments: Mapping[str, int]) -> None:
        """:meth:`count` each ``{reason: n}`` of one family."""
        for reason, n in increments.items():
            self.count(family, reason, n)

    def sample(self, sample: GoesSample) -> None:
        self._call(self.on_sample, sample)

    def queue_event(self, payload: dict[str, Any]) -> None:
        self._events.append(payload)

    def queue_confirmation(self, alert_id: str, confirmation: Confirmation | None) -> None:
        self._confirmations.append((alert_id, confirmation))

    async def deliver(self) -> None:
        """Hand queued event payloads to ``on_event`` and confirmations to
        ``on_confirmation`` (awaited when the hooks are coroutine functions)."""
        events, self._events = self._events, []
        calls: list[tuple[Hook | None, tuple[Any, ...]]] = [
            (self.on_event, (payload,)) for payload in events]
        confirmations, self._confirmations = self._confirmations, []
        calls += [(self.on_confirmation, item) for item in confirmations]
        for hook, args in calls:
            result = self._call(hook, *args)
            if asyncio.iscoroutine(result):
                try:
                    await result
                except Exception:  # publishing must not stop the feed
                    log.exception("goes hook failed")

    @staticmethod
    def _call(hook: Hook | None, *args: Any) -> Any:
        if hook is None:
            return None
        try:
            return hook(*args)
        except Exception:
            log.exception("goes hook failed")
            return None
