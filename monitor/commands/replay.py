"""``sdo-monitor replay DIR``: backfill a directory of files through the daemon.

Replay mode blocks instead of dropping (every file is analysed), files are
kept where they are, and the command ends when every file is settled:
processed, rejected or a duplicate. The processed-file ledger makes a replay
resumable: files finished by an earlier, interrupted run are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import fnmatch
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from monitor.config import Config, load_config
from monitor.sources import SpoolFeedSettings
from monitor.sources.names import is_temporary

if TYPE_CHECKING:
    from monitor.app import Daemon

__all__ = ["Progress", "add_subparser", "replay_config", "run_replay"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "replay", help="analyse a directory of files (backfill), dropping nothing",
        description="Run the daemon in replay mode over DIR: every file is analysed and "
                    "published, the command exits when all are settled. Files are kept.")
    parser.add_argument("directory", type=Path, help="directory of AIA files")
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help="YAML config (Kafka, model, state dir); its feeds are ignored")
    parser.add_argument("--cadence", type=float, default=12.0,
                        help="observation cadence of the files in seconds (frame grouping)")
    parser.add_argument("--feed-name", default="replay", help="feed name in messages/metrics")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_replay)


def replay_config(base: Config, directory: Path, cadence_s: float, name: str) -> Config:
    """``base`` turned into a replay of ``directory``."""
    feed = SpoolFeedSettings(name=name, path=directory, cadence_s=cadence_s, stable_s=0.0,
                             poll_interval_s=1.0, after_processing="keep")
    service = dataclasses.replace(base.service, mode="replay")
    return dataclasses.replace(base, service=service, feeds=(feed,))


def _count_inputs(config: Config) -> int:
    feed = config.feeds[0]
    assert isinstance(feed, SpoolFeedSettings)
    return sum(1 for p in feed.path.iterdir()
               if p.is_file() and not p.is_symlink() and not is_temporary(p.name)
               and any(fnmatch.fnmatchcase(p.name, pat) for pat in feed.include))


class Progress:
    """Replay progress: one line rewritten in place on a terminal, else a line every
    ``every_s`` seconds (a ``\\r`` would corrupt a log file), both with an ETA."""

    def __init__(self, total: int, started: float, stream: TextIO, every_s: float = 10.0) -> None:
        self.total, self.started, self.stream, self.every_s = total, started, stream, every_s
        self.tty = stream.isatty()
        self._last: float | None = None

    def line(self, settled: int, frames: int, now: float) -> str:
        rate = settled / max(1e-9, now - self.started)
        eta = (f"{(self.total - settled) / rate:.0f} s" if rate > 0 and settled < self.total
               else "-")
        return (f"replay: {settled}/{self.total} files, {frames} frames, {rate:.1f} files/s, "
                f"ETA {eta}")

    def show(self, settled: int, frames: int, now: float) -> None:
        if self.tty:
            print(f"\r{self.line(settled, frames, now)}", end="", file=self.stream, flush=True)
        elif self._last is None or now - self._last >= self.every_s:
            print(self.line(settled, frames, now), file=self.stream, flush=True)
            self._last = now

    def end(self) -> None:
        if self.tty:
            print(file=self.stream)


def run_replay(args: argparse.Namespace) -> int:
    from monitor.commands.run import serve

    if not args.directory.is_dir():
        print(f"sdo-monitor replay: {args.directory} is not a directory", file=sys.stderr)
        return 1
    base = load_config(args.config) if args.config else Config()
    config = replay_config(base, args.directory.resolve(), args.cadence, args.feed_name)
    total = _count_inputs(config)
    stop = asyncio.Event()
    started = time.monotonic()
    progress = Progress(total, started, sys.stderr)

    def on_ready(daemon: Daemon) -> None:
        asyncio.get_running_loop().create_task(_watch(daemon))

    async def _watch(daemon: Daemon) -> None:
        flushed = False
        while not stop.is_set():
            await asyncio.sleep(0.5)
            snap = daemon.snapshot()
            if snap is None:
                continue
            settled = snap.settled
            if not args.no_progress:
                progress.show(settled, snap.counts["frames"], time.monotonic())
            if settled + snap.open_channels >= total and not flushed and snap.idle:
                await daemon.flush_frames()  # the last frames may lack channels
                flushed = True
            if flushed and settled >= total and snap.idle:
                await daemon.wait_published(60.0)
                stop.set()
        if not args.no_progress:
            progress.end()

    code = serve(config, on_ready=on_ready, stop=stop)
    print(f"replay: {total} files in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return code
