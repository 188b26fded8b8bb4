"""Settings of the synthetic feed (YAML key ``synth``), stdlib only.

Used by ``sdo-monitor demo`` to run a synthetic feed into a spool directory
next to the daemon; ``sdo-monitor synth`` takes the same values as options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SIZES", "SynthSettings"]

#: Image sizes the generator writes (4096 = AIA full resolution, 0.6 arcsec/px).
SIZES: tuple[int, ...] = (512, 1024, 2048, 4096)
_CHANNELS: tuple[int, ...] = (94, 131, 171, 193, 211, 304, 335)


@dataclass(frozen=True)
class SynthSettings:
    """A synthetic AIA feed: which scenario, how big, how fast, where to."""

    scenario: str = field(
        default="demo",
        metadata={"doc": "shipped scenario name (sdo-monitor synth --list-scenarios) or a "
                         "path to a scenario YAML file"})
    out_dir: Path = field(
        default=Path("var/synth/spool"),
        metadata={"doc": "spool directory the FITS files are renamed into"})
    truth_path: Path | None = field(
        default=None,
        metadata={"doc": "ground-truth JSON-lines file; default <out_dir>/synth_truth.jsonl"})
    size: int = field(default=1024, metadata={"choices": SIZES,
                                              "doc": "image width and height, px"})
    speed: float = field(
        default=60.0,
        metadata={"ge": 0, "doc": "simulated seconds per wall-clock second; 0 = as fast as "
                                  "possible"})
    seed: int | None = field(
        default=None, metadata={"ge": 0, "doc": "fixes the run byte for byte; none = random"})
    channels: tuple[int, ...] = field(default=_CHANNELS, metadata={"choices": _CHANNELS})
    cadence_s: float | None = field(
        default=None, metadata={"gt": 0, "doc": "override the scenario's cadence"})
    duration_s: float | None = field(
        default=None, metadata={"gt": 0, "doc": "override the scenario's duration"})

    def check(self) -> list[tuple[str, str]]:
        if len(set(self.channels)) != len(self.channels):
            return [("channels", "lists a wavelength twice")]
        return []
