"""This process's helper threads, for work that releases the GIL (RICE tiles, SHA-256).

One small pool per process, started on first use: a pool worker that is
given spare cores for one file (the idle pool's share, see
:func:`~monitor.ingest.reader.read_observation`) decodes tiles and hashes on
these threads while its own thread validates the header.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["helper_pool"]

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def helper_pool() -> ThreadPoolExecutor:
    """The helper threads: one per core and one for the hash (idle threads cost nothing)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2) + 1,
                                       thread_name_prefix="ingest-helper")
        return _pool
