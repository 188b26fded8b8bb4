"""Keep the garbage collector's full passes off the latency path.

A started daemon holds ~350 000 container objects that live as long as it
does: the modules of torch, astropy, sunpy, ONNX Runtime and matplotlib, the
model package, the metric registry. CPython's oldest-generation collection
walks all of them, ~0.1-0.2 s on the 2-core VM (``benchmarks/gc_pause.py``),
and it runs whenever enough new objects have survived, so once every few
minutes a frame that happens to trigger it is late by that much: the tail
of the real-time latency. :func:`freeze_startup_heap` moves everything alive
after start-up into the permanent generation, which collections skip; what
frames allocate afterwards is collected as before.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> int:
    """Collect once, then exempt every surviving object from later collections.

    Call it when start-up is over (modules imported, models loaded and warmed
    up): garbage made before is freed first, so nothing collectable is frozen.

    Returns
    -------
    int
        Objects now in the permanent generation.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
