"""What happens to a file once the daemon is done with it: keep, move or delete.

Rejected files always go to a ``rejected/`` directory so nothing an
instrument produced is ever lost to a parsing bug. Every operation is
idempotent: a second call (a retry after a crash, a duplicate notification)
finds the work already done and succeeds.
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from monitor.logs import get_logger
from monitor.sources.names import within

__all__ = ["Disposer"]

log = get_logger(__name__)


@dataclass(frozen=True)
class Disposer:
    """Moves, deletes or keeps files below ``root`` after processing.

    Parameters
    ----------
    root : Path
        The spool directory the files live in (resolved).
    after_processing : {"keep", "move", "delete"}
        For processed and duplicate files.
    done_dir : Path
        Destination of ``move``.
    rejected_dir : Path
        Destination of rejected files, whatever ``after_processing`` says.
    """

    root: Path
    after_processing: Literal["keep", "move", "delete"]
    done_dir: Path
    rejected_dir: Path

    def dispose(self, path: Path, outcome: str) -> Path | None:
        """Apply the policy to ``path``; returns where the file is now (None if deleted).

        Blocking (file-system calls): run it in a thread from the event loop.
        """
        if outcome == "rejected":
            return self._move(path, self.rejected_dir)
        if self.after_processing == "keep":
            return path
        if self.after_processing == "delete":
            try:
                path.unlink()
            except FileNotFoundError:
                pass  # already deleted: idempotent
            return None
        return self._move(path, self.done_dir)

    def _move(self, path: Path, destination_root: Path) -> Path:
        # Keep the file's place in the tree (recursive spools) so names never collide
        # across subdirectories.
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            relative = Path(path.name)
        target = destination_root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)  # atomic on one file system, overwrites a stale copy
        except FileNotFoundError:
            if target.exists():
                return target  # moved before: idempotent
            raise
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # done_dir on another file system: copy + delete
                raise
            shutil.move(str(path), str(target))
        log.debug("file moved", path=str(path), to=str(target))
        return target

    def owns(self, path: Path) -> bool:
        """True if ``path`` lies in the done or rejected directory (skip when scanning)."""
        return within(path, self.done_dir) or within(path, self.rejected_dir)
