"""The start-up heap is frozen: collected first, then skipped by later full collections.

Each check runs in a fresh interpreter: freezing the test runner's own heap would keep
every later test's garbage of that moment alive.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=False)


def test_garbage_is_freed_before_the_freeze_and_later_garbage_still_is() -> None:
    result = _python("""
        import gc, weakref
        from monitor.heap import freeze_startup_heap

        class Node:
            pass

        def cycle():
            a, b = Node(), Node()
            a.other, b.other = b, a
            return weakref.ref(a)

        kept = [Node() for _ in range(1000)]
        early = cycle()                      # garbage made during start-up
        frozen = freeze_startup_heap()
        assert early() is None, "start-up garbage was frozen instead of freed"
        assert frozen == gc.get_freeze_count() >= 1000, frozen
        assert not any(o is kept for o in gc.get_objects()), "kept objects still scanned"
        late = cycle()                       # garbage made while frames run
        gc.collect()
        assert late() is None, "garbage made after the freeze is never freed"
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_an_ingest_worker_reads_the_table_and_freezes_its_heap_when_it_warms_up() -> None:
    result = _python("""
        import gc
        from monitor.pipeline.pool_work import warm_worker
        from monitor.preprocess import load_degradation_table
        assert gc.get_freeze_count() == 0
        warm_worker("builtin", 0.0)
        # the first file will find the table read (it cost that file ~0.17 s)
        assert load_degradation_table.cache_info().currsize == 1
        print(gc.get_freeze_count())
    """)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 10_000  # numpy, astropy and the ingest stack
