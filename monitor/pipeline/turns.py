"""Turn-taking for frames analysed concurrently but published in dequeue order.

Frames are analysed concurrently so the inference batcher can batch them, but
the alert rules (hysteresis, "N consecutive frames") and publishing mean
nothing out of time order. Each frame takes a ticket when it leaves the
queue; its alert evaluation and publishing wait for its turn. A frame that
fails before its turn gives its ticket back, and the turn skips over it.
"""

from __future__ import annotations

import asyncio

__all__ = ["TurnOrder"]


class TurnOrder:
    """Tickets handed out in order; :meth:`wait` returns when a ticket's turn has come."""

    def __init__(self) -> None:
        self._next_ticket = 0
        self._turn = 0
        self._skipped: set[int] = set()
        self._changed = asyncio.Condition()

    def take(self) -> int:
        """The next ticket (call in dequeue order)."""
        ticket, self._next_ticket = self._next_ticket, self._next_ticket + 1
        return ticket

    async def wait(self, ticket: int) -> None:
        """Return once every earlier ticket has ended its turn."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._turn >= ticket)

    async def end(self, ticket: int) -> None:
        """End the ticket's turn; idempotent, and safe before the turn came (a failure)."""
        async with self._changed:
            if ticket < self._turn:
                return  # already ended
            if self._turn == ticket:
                self._turn += 1
            else:  # failed before its turn: let the turn skip over it when it comes
                self._skipped.add(ticket)
            while self._turn in self._skipped:
                self._skipped.discard(self._turn)
                self._turn += 1
            self._changed.notify_all()
