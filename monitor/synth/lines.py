"""The EVE MEGS-A lines the synthetic Sun emits: what each is, and its v1 calibration.

Plain data shared by the line physics (:mod:`monitor.synth.eve`) and the
worlds (:mod:`monitor.synth.worlds`), kept apart so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EVE_LINES", "EveLine"]


@dataclass(frozen=True)
class EveLine:
    """One EVE MEGS-A line.

    Parameters
    ----------
    ion : str
        E.g. ``"Fe XVIII"``.
    wavelength_nm : float
        Line wavelength.
    log_t : float
        Formation temperature (log10 K), peak of ``G(T)``.
    sigma : float
        Width of ``G(T)`` in log10 K.
    reference : float
        Irradiance (W m^-2) of the reference Sun, used to set the amplitude
        (for flare lines: carried by the blend).
    hot_amplitude : float
        Absolute peak of ``G`` (W m^-2 cm^3) for flare lines; 0 otherwise.
    blend_log_t : float
        Formation temperature of the blend that carries the quiet value.
    """

    ion: str
    wavelength_nm: float
    log_t: float
    sigma: float
    reference: float
    hot_amplitude: float = 0.0
    blend_log_t: float = 0.0

    @property
    def name(self) -> str:
        """``"<ion> <wavelength> nm"``, e.g. ``"Fe XVIII 9.39 nm"``."""
        return f"{self.ion} {self.wavelength_nm:.2f} nm"


#: The 14 lines of Szenicer et al. (2019), in the order of DESIGN.md, as
#: calibrated in world ``v1``; names and order are the same in every world
#: (``monitor.synth.worlds``).
EVE_LINES: tuple[EveLine, ...] = (
    EveLine("Fe XVIII", 9.39, 6.85, 0.12, 6.0e-6, hot_amplitude=1.0e-54, blend_log_t=6.05),
    EveLine("Fe VIII", 13.12, 5.65, 0.13, 2.5e-5),
    EveLine("Fe XX", 13.29, 7.00, 0.12, 1.0e-6, hot_amplitude=1.0e-54, blend_log_t=5.65),
    EveLine("Fe IX", 17.11, 5.85, 0.12, 2.0e-4),
    EveLine("Fe X", 17.72, 6.05, 0.12, 1.1e-4),
    EveLine("Fe XI", 18.04, 6.15, 0.12, 1.3e-4),
    EveLine("Fe XII", 19.51, 6.20, 0.12, 9.0e-5),
    EveLine("Fe XIII", 20.20, 6.25, 0.12, 6.0e-5),
    EveLine("Fe XIV", 21.13, 6.30, 0.12, 3.5e-5),
    EveLine("He II", 25.63, 4.90, 0.15, 6.0e-5),
    EveLine("Fe XV", 28.42, 6.35, 0.12, 5.0e-5),
    EveLine("He II", 30.38, 4.75, 0.15, 5.0e-4),
    EveLine("Fe XVI", 33.54, 6.45, 0.12, 4.0e-5),
    EveLine("Mg IX", 36.81, 5.95, 0.12, 3.0e-5),
)
