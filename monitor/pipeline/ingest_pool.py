"""The ingest worker pool: its kind and size, started warm, shut down with the daemon.

The pool decodes and resamples files (:mod:`~monitor.pipeline.pool_work` is
what runs inside it). Processes by default, since astropy's tile decompression
holds the GIL; threads where processes cannot be used. Worker processes are
started and have imported the ingest stack before the first file arrives, so
the first frames are not a second late.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Literal

from monitor.observe.sdnotify import SystemdNotifier
from monitor.pipeline.pool_work import exit_with_daemon, warm_worker

__all__ = ["IngestPool", "make_pool", "open_ingest_pool"]


@dataclass(frozen=True)
class IngestPool:
    """The started pool and how many workers it has (the ingest stage sizes its tasks
    and its tile-parallel decodes by it)."""

    executor: Executor
    workers: int


def make_pool(executor: Literal["process", "thread"], workers: int) -> Executor:
    """The ingest worker pool: processes (decompression holds the GIL) or threads."""
    if executor == "thread":
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest")
    # forkserver: never fork a process that runs Kafka and aiohttp threads
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver"),
                               initializer=exit_with_daemon, initargs=(os.getpid(),))


@contextlib.asynccontextmanager
async def open_ingest_pool(executor: Literal["process", "thread"], workers: int,
                           notifier: SystemdNotifier, degradation_table: str
                           ) -> AsyncIterator[IngestPool]:
    """Start the pool (``workers`` 0: one per core) and shut it down on exit,
    cancelling what has not started: the pipeline has drained by then.
    ``degradation_table`` (``preprocess.degradation_table``) is read by each
    worker as it starts."""
    size = workers or os.cpu_count() or 1
    pool = make_pool(executor, size)
    try:
        if isinstance(pool, ProcessPoolExecutor):
            # workers start (and import) now, not on the first files
            notifier.status("starting ingest workers")
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(pool, warm_worker, degradation_table)
                                   for _ in range(size)))
        yield IngestPool(pool, size)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
