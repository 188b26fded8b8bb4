"""Photometric calibration: exposure normalisation and instrument degradation.

Both are per-image scalar factors, so they are applied to the 512x512 grid
image after resampling rather than to 16 M input pixels.

Degradation follows aiapy's ``degradation`` (after SolarSoft's
``aia_bp_corrections.pro``) on aiapy's table format (the SSW
``aia_V*_response_table.txt`` files, whitespace-separated with a header row):

    factor = EFF_AREA[epoch] / EFF_AREA[first] * (1 + P1 dt + P2 dt^2 + P3 dt^3)

where the rows are those of the channel (``WAVE_STR`` = ``"171_THIN"``, or the
bare wavelength for 1600/1700/4500) sorted by ``DATE``, ``first`` is the earliest
row, ``epoch`` the last row with ``T_START <= t < T_STOP`` and ``dt`` the time
since that epoch's ``T_START`` in days. Corrected intensity = observed / factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["CalibrationUnavailable", "DegradationRow", "DegradationTable"]

_REQUIRED = ("DATE", "T_START", "T_STOP", "WAVE_STR", "EFF_AREA", "EFFA_P1", "EFFA_P2",
             "EFFA_P3")
_UV = (1600, 1700, 4500)


class CalibrationUnavailable(Exception):
    """The table has no entry for the channel or the time."""


@dataclass(frozen=True)
class DegradationRow:
    """One calibration epoch of one channel."""

    date: datetime
    t_start: datetime
    t_stop: datetime
    wave_str: str
    eff_area: float
    p1: float
    p2: float
    p3: float


def _time(text: str) -> datetime:
    stamp = datetime.fromisoformat(text.strip().replace("Z", ""))
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


class DegradationTable:
    """Degradation factors per channel and time from an aiapy/SSW response table.

    Parameters
    ----------
    rows : iterable of DegradationRow
    source : str
        Where the rows came from (for messages).
    """

    def __init__(self, rows: list[DegradationRow], source: str = "<rows>") -> None:
        self.source = source
        self._by_channel: dict[str, list[DegradationRow]] = {}
        for row in rows:
            self._by_channel.setdefault(row.wave_str, []).append(row)
        for channel_rows in self._by_channel.values():
            channel_rows.sort(key=lambda r: r.date)  # stable: file order among equal dates

    @classmethod
    def from_file(cls, path: str | Path) -> DegradationTable:
        """Read a whitespace-separated table whose first non-comment line names the columns.

        Raises
        ------
        ValueError
            Missing columns or unparsable values, with the line number.
        """
        lines = Path(path).read_text(encoding="ascii").splitlines()
        content = [(n, line) for n, line in enumerate(lines, 1)
                   if line.strip() and not line.lstrip().startswith("#")]
        if not content:
            raise ValueError(f"{path}: empty degradation table")
        header = content[0][1].split()
        missing = [c for c in _REQUIRED if c not in header]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        col = {name: header.index(name) for name in _REQUIRED}
        rows = []
        for number, line in content[1:]:
            cells = line.split()
            if len(cells) != len(header):
                raise ValueError(f"{path}:{number}: {len(cells)} cells, header has {len(header)}")
            try:
                rows.append(DegradationRow(
                    date=_time(cells[col["DATE"]]), t_start=_time(cells[col["T_START"]]),
                    t_stop=_time(cells[col["T_STOP"]]), wave_str=cells[col["WAVE_STR"]],
                    eff_area=float(cells[col["EFF_AREA"]]), p1=float(cells[col["EFFA_P1"]]),
                    p2=float(cells[col["EFFA_P2"]]), p3=float(cells[col["EFFA_P3"]])))
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
        return cls(rows, source=str(path))

    def channels(self) -> tuple[str, ...]:
        """WAVE_STR values present."""
        return tuple(sorted(self._by_channel))

    def factor(self, wavelength: int, t_obs: datetime) -> float:
        """Degradation factor (observed / corrected) for a channel at a time.

        Raises
        ------
        CalibrationUnavailable
            When the channel is absent or no epoch contains ``t_obs``.
        """
        wave_str = f"{wavelength}" if wavelength in _UV else f"{wavelength}_THIN"
        rows = self._by_channel.get(wave_str)
        if not rows:
            raise CalibrationUnavailable(f"{self.source}: no rows for {wave_str}")
        t = t_obs if t_obs.tzinfo else t_obs.replace(tzinfo=UTC)
        epochs = [r for r in rows if r.t_start <= t < r.t_stop]
        if not epochs:
            raise CalibrationUnavailable(f"{self.source}: no {wave_str} epoch contains "
                                         f"{t.isoformat()}")
        epoch = epochs[-1]  # several versions of one epoch: the newest (sorted by DATE)
        dt = (t - epoch.t_start).total_seconds() / 86400.0
        value = (epoch.eff_area / rows[0].eff_area) * (
            1.0 + epoch.p1 * dt + epoch.p2 * dt ** 2 + epoch.p3 * dt ** 3)
        if not math.isfinite(value) or value <= 0:
            raise CalibrationUnavailable(f"{self.source}: {wave_str} factor {value} at "
                                         f"{t.isoformat()} is not positive")
        return value
