"""AIA channels: temperature responses, exposures and detector constants.

Physics
-------
An optically thin plasma with column differential emission measure
``DEM(T)`` (cm^-5 per bin of log T) gives, in an AIA channel ``c``, a count
rate per full-resolution (0.6 arcsec) pixel of::

    I_c = sum_T DEM(T) * R_c(T)        [DN s^-1 pix^-1]

where ``R_c(T)`` (DN cm^5 s^-1 pix^-1) is the channel's temperature response:
the product of the instrument's effective area with the CHIANTI spectrum of
plasma at ``T``. Here each response is a sum of Gaussians in log T whose peak
positions follow the issue (94: log T 6.85 and 6.05 [Fe XVIII, Fe X];
131: 7.05 and 5.6 [Fe XXI, Fe VIII]; 171: 5.85 [Fe IX]; 193: 6.2 and 7.25
[Fe XII, Fe XXIV]; 211: 6.3 [Fe XIV]; 335: 6.45 [Fe XVI]; 304: 4.7 [He II])
and whose amplitudes are within about a factor of two of Boerner et al. (2012,
Solar Physics 275, 41), early-mission calibration. That is what matters for
the monitor: hot flare plasma lights 94 and 131, 1 MK corona lights 171.

He II 304 is not optically thin; it is treated as thin emission from the
transition-region part of the DEM plus an extra limb darkening (see
``ChannelSpec.opacity_limb_darkening``).

Detector: a photon of wavelength ``lambda`` frees ``(hc/lambda) / 3.65 eV``
electrons in silicon and the camera gain is about 17.7 electrons per DN, so one
photon is ``dn_per_photon`` DN (2.0 at 94 A, 0.6 at 304 A); read noise is
about 1.15 DN; the ADC saturates at 16383 DN. Nominal exposures are the AIA
synoptic ones (2.0 s for 171/193, 2.9 s for the others); AIA's automatic
exposure control (AEC) shortens them when a flare would saturate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CHANNELS",
    "CHANNEL_SPECS",
    "DLOG_T",
    "LOG_T",
    "SATURATION_DN",
    "ChannelSpec",
    "ResponsePeak",
    "channel_spec",
    "response_matrix",
]

#: Temperature grid of every DEM in the package (log10 K), bin width ``DLOG_T``.
DLOG_T: float = 0.05
LOG_T: np.ndarray = np.round(np.arange(4.4, 7.80001, DLOG_T), 4)
LOG_T.setflags(write=False)

#: 14-bit analogue-to-digital converter ceiling.
SATURATION_DN: float = 16383.0
_GAIN_E_PER_DN: float = 17.7
_EV_PER_ELECTRON: float = 3.65
_HC_EV_ANGSTROM: float = 12398.42


@dataclass(frozen=True)
class ResponsePeak:
    """One Gaussian term of a temperature response.

    Parameters
    ----------
    log_t : float
        Peak temperature (log10 K).
    sigma : float
        Gaussian width in log10 K.
    amplitude : float
        Response at the peak, DN cm^5 s^-1 pix^-1.
    """

    log_t: float
    sigma: float
    amplitude: float


@dataclass(frozen=True)
class ChannelSpec:
    """Everything the generator needs to know about one AIA EUV channel.

    Parameters
    ----------
    wavelength : int
        Nominal wavelength in Angstrom (the ``WAVELNTH`` keyword).
    telescope : int
        AIA telescope/camera number 1-4 (``INSTRUME = 'AIA_<n>'``).
    exposure_s : float
        Nominal exposure time in seconds.
    min_exposure_s : float
        Shortest exposure the AEC will command.
    peaks : tuple of ResponsePeak
        The temperature response as a sum of Gaussians.
    t_obs_offset_s : float
        Where in the 12 s AIA cycle this channel is taken.
    network_contrast : float
        Log-normal sigma of the quiet-Sun network texture in this channel.
    opacity_limb_darkening : float
        Linear limb-darkening coefficient for optically thick emission (304).
    """

    wavelength: int
    telescope: int
    exposure_s: float
    min_exposure_s: float
    peaks: tuple[ResponsePeak, ...]
    t_obs_offset_s: float
    network_contrast: float
    opacity_limb_darkening: float = 0.0

    @property
    def wave_str(self) -> str:
        """Filter name as in the ``WAVE_STR`` keyword."""
        return f"{self.wavelength}_THIN"

    @property
    def dn_per_photon(self) -> float:
        """Detector DN produced by one photon of this wavelength."""
        electrons = _HC_EV_ANGSTROM / self.wavelength / _EV_PER_ELECTRON
        return electrons / _GAIN_E_PER_DN

    @property
    def read_noise_dn(self) -> float:
        """Read noise (DN, one sigma) after level-1 processing."""
        return 1.15

    def response(self, log_t: np.ndarray = LOG_T) -> np.ndarray:
        """Temperature response on ``log_t`` in DN cm^5 s^-1 pix^-1."""
        out = np.zeros(np.shape(log_t), dtype=np.float64)
        for peak in self.peaks:
            out += peak.amplitude * np.exp(-0.5 * ((log_t - peak.log_t) / peak.sigma) ** 2)
        return out


def _p(log_t: float, sigma: float, amplitude: float) -> ResponsePeak:
    return ResponsePeak(log_t, sigma, amplitude)


#: The seven EUV channels in the order every array of this package uses.
CHANNEL_SPECS: tuple[ChannelSpec, ...] = (
    ChannelSpec(94, 4, 2.9, 0.04, (_p(6.85, 0.11, 6.0e-27), _p(6.05, 0.10, 4.0e-27)),
                t_obs_offset_s=1.6, network_contrast=0.20),
    ChannelSpec(131, 1, 2.9, 0.04, (_p(7.05, 0.10, 1.7e-26), _p(5.60, 0.12, 2.4e-26),
                                    _p(7.25, 0.12, 4.0e-27)),
                t_obs_offset_s=8.6, network_contrast=0.25),
    ChannelSpec(171, 3, 2.0, 0.04, (_p(5.85, 0.11, 3.0e-24), _p(6.05, 0.08, 4.0e-25)),
                t_obs_offset_s=10.3, network_contrast=0.18),
    ChannelSpec(193, 2, 2.0, 0.04, (_p(6.20, 0.12, 1.8e-24), _p(7.25, 0.10, 1.5e-25),
                                    _p(5.60, 0.12, 5.0e-26)),
                t_obs_offset_s=5.8, network_contrast=0.15),
    ChannelSpec(211, 4, 2.9, 0.04, (_p(6.30, 0.12, 6.5e-25), _p(5.70, 0.14, 6.0e-26)),
                t_obs_offset_s=0.6, network_contrast=0.15),
    ChannelSpec(304, 3, 2.9, 0.04, (_p(4.70, 0.15, 1.2e-25), _p(6.25, 0.12, 1.5e-27)),
                t_obs_offset_s=6.6, network_contrast=0.30, opacity_limb_darkening=0.3),
    ChannelSpec(335, 1, 2.9, 0.04, (_p(6.45, 0.17, 3.5e-26), _p(5.50, 0.15, 2.0e-27)),
                t_obs_offset_s=2.6, network_contrast=0.15),
)

#: Channel wavelengths (Angstrom) in package order.
CHANNELS: tuple[int, ...] = tuple(spec.wavelength for spec in CHANNEL_SPECS)

_BY_WAVELENGTH = {spec.wavelength: spec for spec in CHANNEL_SPECS}


def channel_spec(wavelength: int) -> ChannelSpec:
    """The :class:`ChannelSpec` of ``wavelength`` (Angstrom).

    Raises
    ------
    KeyError
        If the wavelength is not one of the seven EUV channels.
    """
    try:
        return _BY_WAVELENGTH[int(wavelength)]
    except KeyError:
        raise KeyError(f"no AIA EUV channel {wavelength} A; choose from {CHANNELS}") from None


def response_matrix(channels: tuple[int, ...] = CHANNELS) -> np.ndarray:
    """Responses of ``channels`` stacked as an array of shape (n_channels, len(LOG_T))."""
    return np.stack([channel_spec(c).response() for c in channels])
