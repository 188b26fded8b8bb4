"""A progress bar on stderr: tqdm when it is installed, a small own one otherwise.

Only the main process of a distributed run shows one; ``enabled=False`` (or a
non-main rank) gives a silent object with the same methods.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Self, TextIO

__all__ = ["Progress", "progress"]


class Progress:
    """Minimal tqdm look-alike: ``update(n)``, ``set_postfix(**kv)``, ``close()``.

    Redraws at most twice a second, on one line (carriage return), with rate
    and remaining time.
    """

    def __init__(self, total: int, desc: str = "", stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.total = max(int(total), 0)
        self.desc = desc
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.n = 0
        self.postfix = ""
        self._start = time.monotonic()
        self._last = 0.0

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps."""
        self.n += n
        now = time.monotonic()
        if self.enabled and (now - self._last >= 0.5 or self.n >= self.total):
            self._last = now
            self._draw(now)

    def set_postfix(self, **values: Any) -> None:
        """Show ``key=value`` pairs after the bar."""
        self.postfix = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in values.items())

    def _draw(self, now: float) -> None:
        elapsed = now - self._start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        frac = self.n / self.total if self.total else 1.0
        left = (self.total - self.n) / rate if rate > 0 else float("nan")
        bar = "#" * int(20 * frac) + "-" * (20 - int(20 * frac))
        eta = "    ?" if math.isnan(left) else f"{left:5.0f}s"
        self.stream.write(f"\r{self.desc} [{bar}] {self.n}/{self.total} "
                          f"{rate:.1f}/s eta {eta} {self.postfix}  ")
        self.stream.flush()

    def close(self) -> None:
        """Finish the line."""
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(total: int, desc: str = "", enabled: bool = True) -> Any:
    """A tqdm bar on stderr if tqdm is installed, else :class:`Progress`."""
    try:
        from tqdm import tqdm
    except ImportError:
        return Progress(total, desc, enabled=enabled)
    return tqdm(total=total, desc=desc, file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, mininterval=0.5, leave=True)
