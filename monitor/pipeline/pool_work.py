"""What runs in the ingest worker pool: file to model-grid image, the CPU-heavy half of
the hot path, and the pool workers' own start-up and exit.

Runs in a worker pool (processes by default: astropy's tile decompression
holds the GIL, so threads would serialise it on the 2-4 cores an operations
box has). Everything that crosses the pool boundary is small: the full
resolution image stays in the worker and only the (N, N) grid image and the
observation record come back.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from monitor.grid import ModelGrid
from monitor.ingest import IngestSettings, RejectReason, read_observation
from monitor.pipeline.handoffs import IngestedFile
from monitor.preprocess import (
    PreprocessError,
    PreprocessSettings,
    load_degradation_table,
    preprocess_detailed,
)

__all__ = ["exit_with_daemon", "ingest_file", "warm_worker"]


def warm_worker(degradation_table: str, hold_s: float = 0.2) -> int:
    """Start-up task for each pool worker: returns its pid once the worker is up.

    Unpickling this function imports this module and with it the whole
    ingest and preprocessing stack (astropy, OpenCV, numpy), the ~1 s a fresh
    worker otherwise spends on the first file it gets; it also reads the
    degradation table (~0.17 s, once per process) that the first file would
    read. Then the worker's start-up heap is frozen (:mod:`monitor.heap`).
    Holding ``hold_s`` makes concurrent calls land in different workers.
    """
    import os

    from monitor.heap import freeze_startup_heap

    with contextlib.suppress(OSError, ValueError):  # ingest_file reports a bad table
        load_degradation_table(degradation_table)
    freeze_startup_heap()  # the decode of a frame's last file must not meet a full collection
    time.sleep(hold_s)
    return os.getpid()


def exit_with_daemon(daemon_pid: int, period_s: float = 2.0) -> None:
    """Pool initializer: end this worker when the daemon process is gone.

    A SIGKILLed daemon cannot shut its process pool down, and pool workers
    would otherwise linger forever outside systemd (which kills the whole
    cgroup anyway).
    """
    import os
    import threading

    def watch() -> None:
        while True:
            time.sleep(period_s)
            try:
                os.kill(daemon_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass  # a process of that pid exists (not ours to signal): keep waiting

    threading.Thread(target=watch, name="exit-with-daemon", daemon=True).start()


def ingest_file(path: str, ingest: IngestSettings, prep: PreprocessSettings,
                grid_size: int, decode_threads: int = 1) -> IngestedFile:
    """Read, validate, decode and map one file onto the model grid. Never raises.

    ``decode_threads`` > 1 lends this file the cores of idle pool workers for
    its decode (see :func:`~monitor.ingest.read_observation`) and its
    resampling (row bands, see :func:`~monitor.preprocess.area_resample`).
    """
    t0 = time.perf_counter()
    result = read_observation(path, ingest, decode_threads=decode_threads)
    t_ingest = time.perf_counter() - t0
    if not result.ok:
        return IngestedFile(path, rejection=result.rejection, timings_s={"ingest": t_ingest})
    assert result.observation is not None and result.image is not None
    t1 = time.perf_counter()
    try:
        try:  # read once per worker process (cached); preflight refused unreadable tables
            table = load_degradation_table(prep.degradation_table)
        except (OSError, ValueError) as exc:
            raise PreprocessError(RejectReason.CALIBRATION_UNAVAILABLE, str(exc)) from None
        grid = preprocess_detailed(result.observation, result.image, ModelGrid(grid_size), prep,
                                   degradation=table, spare_threads=decode_threads)
    except PreprocessError as exc:
        return IngestedFile(path, rejection=exc.to_rejection(result.observation),
                            timings_s={"ingest": t_ingest})
    return IngestedFile(path, observation=result.observation,
                        grid_image=np.ascontiguousarray(grid.data, dtype=np.float32),
                        degradation=grid.degradation,
                        timings_s={"ingest": t_ingest, "preprocess": time.perf_counter() - t1})
