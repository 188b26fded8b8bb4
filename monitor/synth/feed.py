"""A synthetic AIA feed: observations written into a spool directory in real time.

:class:`SynthFeed` plays a scenario the way the AIA level-1 stream arrives:
every observation time (``cadence_s`` apart) its channels are written a few
seconds apart (each channel's place in AIA's 12 s cycle, the ``T_OBS``
offsets of ``monitor.synth.responses``), each file under a temporary name and
renamed into place when complete. ``speed`` compresses time (60 = one
simulated minute per second; 0 = as fast as the machine can). After each
observation time its ground truth is appended to a JSON-lines sidecar. If
rendering cannot keep up, files are written late rather than skipped, and
the lag is logged.

Use it from a thread (``for f in feed.run(): ...``), stop it with
:meth:`SynthFeed.stop`, or iterate it from asyncio with :meth:`SynthFeed.arun`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.logs import get_logger
from monitor.synth.fitsio import write_channel
from monitor.synth.responses import channel_spec
from monitor.synth.scenario import Scenario, load_scenario
from monitor.synth.sun import SyntheticSun
from monitor.synth.worlds import DEFAULT_WORLD

__all__ = ["SynthFeed", "WrittenFile"]

log = get_logger(__name__)


@dataclass(frozen=True)
class WrittenFile:
    """A file the feed has renamed into the spool directory."""

    path: Path
    wavelength: int
    t_obs: datetime
    index: int


class SynthFeed:
    """Write a scenario's observations into ``out_dir`` as a live AIA feed would.

    Parameters
    ----------
    scenario : Scenario or str
        A scenario, a shipped scenario's name or a path to a scenario file.
    out_dir : pathlib.Path
        Spool directory (created if missing).
    size : int
        Image size (4096, 2048, 1024 or 512).
    speed : float
        Simulated seconds per wall-clock second; 0 writes as fast as possible.
    seed : int or None
        Fixes every byte of the run; None draws a seed (logged, and in the truth).
    truth_path : pathlib.Path, optional
        JSON-lines sidecar; default ``out_dir / "synth_truth.jsonl"``.
    channels : sequence of int, optional
        Wavelengths to write; default the scenario's.
    duration_s, cadence_s : float, optional
        Override the scenario's duration and cadence.
    offset_px, crota2_deg : optional
        Pointing overrides (see :class:`~monitor.synth.sun.SyntheticSun`).
    world : str
        The physics' calibration (``monitor.synth.worlds``), written into the truth.
    sleep, clock : callable, optional
        ``sleep(seconds)`` and ``clock() -> seconds`` used for pacing; default
        an interruptible wait and ``time.monotonic`` (tests pass a fake clock).
    """

    def __init__(self, scenario: Scenario | str | Path, out_dir: Path, size: int = 1024,
                 speed: float = 60.0, seed: int | None = None, truth_path: Path | None = None,
                 channels: Sequence[int] | None = None, duration_s: float | None = None,
                 cadence_s: float | None = None, offset_px: tuple[float, float] | None = None,
                 crota2_deg: float | None = None, world: str = DEFAULT_WORLD,
                 sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        overrides = {k: v for k, v in (("duration_s", duration_s), ("cadence_s", cadence_s))
                     if v is not None}
        self.scenario = dataclasses.replace(sc, **overrides) if overrides else sc
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self.out_dir = Path(out_dir)
        self.truth_path = Path(truth_path) if truth_path else self.out_dir / "synth_truth.jsonl"
        self.speed = float(speed)
        self.sun = SyntheticSun(self.scenario, size=size, seed=seed, channels=channels,
                                offset_px=offset_px, crota2_deg=crota2_deg, world=world)
        self._stop = threading.Event()
        self._sleep = sleep
        self._clock = clock

    @property
    def seed(self) -> int:
        """The run's seed (drawn if none was given)."""
        return self.sun.seed

    def stop(self) -> None:
        """Ask :meth:`run` to return after the file it is writing (thread-safe)."""
        self._stop.set()

    def _wait_until(self, start: float, t_sim: float) -> float:
        """Sleep until simulated time ``t_sim``; returns how late we are (s, wall)."""
        if self.speed == 0:
            return 0.0
        due = start + t_sim / self.speed
        while not self._stop.is_set():
            left = due - self._clock()
            if left <= 0:
                return -left
            if self._sleep is not None:
                self._sleep(left)
            else:
                self._stop.wait(min(left, 0.5))
        return 0.0

    def run(self) -> Iterator[WrittenFile]:
        """Write the run; yields every file once it is in place.

        Blocking: run it in a thread (or use :meth:`arun`). The truth sidecar is
        truncated at the start, and one line is appended per observation time.
        """
        sc = self.scenario
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.truth_path.parent.mkdir(parents=True, exist_ok=True)
        history = f"scenario={sc.name} seed={self.seed} size={self.sun.geometry.size}"
        log.info("synthetic feed starting", scenario=sc.name, seed=self.seed,
                 size=self.sun.geometry.size, speed=self.speed, observations=len(self.sun),
                 out_dir=str(self.out_dir))
        start = self._clock()
        with self.truth_path.open("w", encoding="utf-8") as truth_file:
            for index in range(len(self.sun)):
                if self._stop.is_set():
                    break
                observation = self.sun.observe(index)
                files = {}
                order = sorted(observation.images,
                               key=lambda w: channel_spec(w).t_obs_offset_s)
                for wavelength in order:
                    image = observation.images[wavelength]
                    t_sim = (image.t_obs - sc.start).total_seconds()
                    late = self._wait_until(start, t_sim)
                    if self._stop.is_set():
                        break
                    if late > 5.0:
                        log.warning("synthetic feed behind schedule", index=index,
                                    channel=wavelength, late_s=round(late, 1))
                    path = write_channel(self.out_dir, observation, wavelength, sc.cadence_s,
                                         history)
                    files[wavelength] = path.name
                    yield WrittenFile(path, wavelength, image.t_obs, index)
                truth = dataclasses.replace(observation.truth, files=files)
                truth_file.write(truth.to_line() + "\n")
                truth_file.flush()
                log.info("synthetic observation", index=index, t_rec=truth.to_json()["t_rec"],
                         files=len(files), goes_class=truth.goes_class, gap=truth.gap)

    async def arun(self) -> AsyncIterator[WrittenFile]:
        """:meth:`run` from asyncio: rendering and writing happen in a worker thread."""
        generator = self.run()
        done = object()
        try:
            while True:
                item = await asyncio.to_thread(next, generator, done)
                if item is done:
                    return
                yield item  # type: ignore[misc]
        finally:
            self.stop()
            await asyncio.to_thread(generator.close)
