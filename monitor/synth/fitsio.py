"""AIA level-1 FITS files: header keywords, file names and atomic writes.

The layout copies JSOC's level-1 exports: an empty primary HDU, then the image
as a RICE_1 tile-compressed int16 HDU (one tile per row, BLANK = -32768) whose
header carries the level-1 keywords (timing, exposure, QUALITY, pointing WCS
with the Sun's centre at CRPIX and CRVAL = 0, observer position in several
frames, ephemeris and instrument state). ``sunpy.map.Map`` reads such a file
as an ``AIAMap`` whose WCS puts the Sun's centre where the generator drew it.

Binned sizes (1024, 512) keep the keywords of the binned grid (CDELT, CRPIX,
R_SUN) and, as JSOC's synoptic products do, the 4096-frame values of X0_MP,
Y0_MP and IMSCL_MP.

Real level-1 data come from an instrument that has lost sensitivity since
2010 (down to ~6 % at 304 A by 2024), and the daemon divides that out with its
degradation table. The synthetic Sun is rendered as a fresh instrument sees
it, so :func:`write_channel` degrades it the same way: the stored integers
stay the rendered DN and ``BSCALE`` is the table's factor at ``T_OBS``, so
every FITS reader gets ``DN = BSCALE * stored`` (a degraded instrument's DN)
and the daemon's correction gives back the rendered DN to float precision.

File names follow JSOC's export naming,
``aia.lev1.171A_2014-01-01T18-00-10.34Z.image_lev1.fits`` (T_OBS). A file is
written under a hidden temporary name (``.<name>.part``) in the target
directory and renamed into place when complete, so a watcher never sees a
partial file.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.io import fits

from monitor.atomicfile import atomic_path
from monitor.preprocess.calibrate import BUILTIN, load_degradation_table
from monitor.synth.geometry import AU_M, RSUN_REF_M, ImageGeometry, Observer
from monitor.synth.render import BLANK
from monitor.synth.responses import SATURATION_DN, channel_spec
from monitor.synth.sun import ChannelImage, Observation

__all__ = ["aia_file_name", "aia_header", "degradation_factor", "write_channel", "write_fits"]


def _iso(when: datetime, digits: int = 2) -> str:
    frac = f"{when.microsecond / 1e6:.{digits}f}"[1:]
    return when.strftime("%Y-%m-%dT%H:%M:%S") + frac


def aia_file_name(image: ChannelImage) -> str:
    """JSOC export name of a channel image, from its wavelength and T_OBS."""
    t = image.t_obs
    return (f"aia.lev1.{image.wavelength}A_{t:%Y-%m-%dT%H-%M-%S}."
            f"{t.microsecond // 10000:02d}Z.image_lev1.fits")


def _stats(data: np.ndarray, scale: float = 1.0) -> dict[str, float]:
    valid = data[data != BLANK]
    if valid.size == 0:
        return {"DATAMIN": 0, "DATAMAX": 0, "DATAMEAN": 0.0, "DATARMS": 0.0, "DATAMEDN": 0.0}
    # Spread and percentiles from a strided sample: exact ones cost ~0.3 s per 4096^2 image.
    sample = valid[:: max(1, valid.size // 250_000)].astype(np.float64)
    levels = (1, 10, 25, 50, 75, 90, 95, 98, 99)
    values = np.percentile(sample, levels) * scale
    out = {"DATAMIN": round(int(valid.min()) * scale), "DATAMAX": round(int(valid.max()) * scale),
           "DATAMEAN": round(float(valid.mean(dtype=np.float64)) * scale, 4),
           "DATARMS": round(float(sample.std()) * scale, 4),
           "DATAMEDN": float(values[levels.index(50)])}
    for p, v in zip(levels, values, strict=True):
        if p != 50:
            out[f"DATAP{p:02d}"] = float(v)
    return out


def degradation_factor(table: str, wavelength: int, t_obs: datetime) -> float:
    """The factor a ``preprocess.degradation_table`` value gives (1.0 for ``"none"``)."""
    loaded = load_degradation_table(table)
    return 1.0 if loaded is None else loaded.factor(wavelength, t_obs)


def aia_header(image: ChannelImage, observer: Observer, geometry: ImageGeometry,
               fsn: int, t_rec: datetime, cadence_s: float, history: str = "",
               bscale: float = 1.0) -> fits.Header:
    """The level-1 header of one channel image.

    Parameters
    ----------
    image : ChannelImage
        Data, timing, exposure and QUALITY.
    observer : Observer
        SDO's position at the observation time.
    geometry : ImageGeometry
        Pointing and plate scale of the written grid.
    fsn : int
        Filtergram sequence number.
    t_rec, cadence_s : datetime, float
        Slot time and its step (``T_REC``, ``TRECSTEP``).
    history : str
        Text for a HISTORY card (scenario and seed).
    bscale : float
        Physical DN per stored integer (the degradation factor); the DATA*
        statistics are in physical DN.
    """
    spec = channel_spec(image.wavelength)
    size = geometry.size
    binning = 4096 // size
    date_obs = image.t_obs - timedelta(seconds=image.exposure_s / 2)
    total = size * size
    eclipse = image.eclipse
    stats = _stats(image.data, bscale)
    rsun_obs = observer.rsun_obs_arcsec
    h = fits.Header()
    cards: list[tuple[str, object, str]] = [
        ("T_REC", _iso(t_rec, 3), "[ISO] Slotted observation time"),
        ("WAVELNTH", image.wavelength, "[angstrom] Wavelength"),
        ("DATE", _iso(image.t_obs + timedelta(minutes=3), 3), "[ISO] Date_time of processing"),
        ("FSN", fsn, "FSN Filtergram Sequence Number"),
        ("EXPTIME", image.exposure_s, "[sec] Exposure duration: mean shutter open time"),
        ("QUALITY", image.quality, "Level 1 Quality word"),
        ("LVL_NUM", 1.0, "LVL_NUM data level number"),
        ("ORIGIN", "SDO/JSOC-SDP", "ORIGIN Location where file made"),
        ("TELESCOP", "SDO/AIA", "For AIA: SDO/AIA"),
        ("INSTRUME", f"AIA_{spec.telescope}", "For AIA: AIA_1, AIA_2, AIA_3 or AIA_4"),
        ("DATE-OBS", _iso(date_obs, 3), "[ISO] Date when observation started"),
        ("T_OBS", _iso(image.t_obs, 3), "[ISO] Observation time"),
        ("CAMERA", spec.telescope, "For AIA: 1, 2, 3 or 4"),
        ("IMG_TYPE", "LIGHT", "Image type: LIGHT or DARK"),
        ("EXPSDEV", 0.00015, "[sec] Exposure standard deviation"),
        ("INT_TIME", round(image.exposure_s + 0.27, 4), "[sec] CCD integration duration"),
        ("WAVEUNIT", "angstrom", "Wavelength unit: angstrom"),
        ("WAVE_STR", spec.wave_str, "Wavelength_FilterPosition"),
        ("FID", 0, "FID Filtergram ID"),
        ("QUALLEV0", 0, "Level 0 Quality word"),
        ("TOTVALS", total, "Expected number of data values (pixels)"),
        ("DATAVALS", total - image.missing, "Actual number of data values in image"),
        ("MISSVALS", image.missing, "Missing values: TOTVALS - DATAVALS"),
        ("PERCENTD", round(100.0 * (total - image.missing) / total, 4),
         "Percent data; 100*DATAVALS/TOTVALS"),
        ("NSATPIX", image.saturated, "Number of saturated pixels detected in image"),
        ("DATASAT", int(SATURATION_DN), "Saturation level, DN"),
        *((k, v, k) for k, v in stats.items()),
        ("CTYPE1", "HPLN-TAN", "CTYPE1; Typically HPLN"),
        ("CUNIT1", "arcsec", "CUNIT1; Typically arcsec"),
        ("CRVAL1", 0.0, "[arcsec] CRVAL1: x origin"),
        ("CDELT1", geometry.cdelt_arcsec, "[arcsec/pixel] image scale in the x direction"),
        ("CRPIX1", geometry.crpix1, "[pixel] CRPIX1: location of sun center in CCD x"),
        ("CTYPE2", "HPLT-TAN", "CTYPE2; Typically HPLT"),
        ("CUNIT2", "arcsec", "CUNIT2; Typically arcsec"),
        ("CRVAL2", 0.0, "[arcsec] CRVAL2: y origin"),
        ("CDELT2", geometry.cdelt_arcsec, "[arcsec/pixel] image scale in the y direction"),
        ("CRPIX2", geometry.crpix2, "[pixel] CRPIX2: location of sun center in CCD y"),
        ("CROTA2", geometry.crota2_deg, "[degree] CROTA2: INST_ROT + SAT_ROT"),
        ("R_SUN", rsun_obs / geometry.cdelt_arcsec, "[pixel] Radius of the Sun in pixels"),
        ("MPO_REC", "sdo.master_pointing[:#1]", "Master Pointing series record pointer"),
        ("INST_ROT", geometry.crota2_deg, "[deg] Master pointing CCD rotation"),
        ("IMSCL_MP", 0.6, "[arcsec/pixel] Master pointing image scale"),
        ("X0_MP", (geometry.crpix1 - 0.5) * binning - 0.5, "[pixel] Master pointing X0"),
        ("Y0_MP", (geometry.crpix2 - 0.5) * binning - 0.5, "[pixel] Master pointing Y0"),
        ("SAT_ROT", 0.0, "[deg] Angle of solar pole wrt the SDO X axis"),
        ("ACS_MODE", "SCIENCE", "ACS pointing mode"),
        ("ACS_ECLP", "YES" if eclipse else "NO", "ACS eclipse flag"),
        ("ACS_SUNP", "YES", "ACS sun presence flag"),
        ("ACS_SAFE", "NO", "ACS safe hold flag"),
        ("ACS_CGT", "GT3", "ACS ID of Controlling Guide Telescope"),
        ("ORB_REC", f"sdo.fds_orbit_vectors[{t_rec:%Y.%m.%d_%H:%M:00}_UTC]", ""),
        ("DSUN_REF", AU_M, "[m] Reference distance to Sun: 149,597,870,691.0 m"),
        ("DSUN_OBS", observer.dsun_m, "[m] Distance from SDO to Sun center"),
        ("RSUN_REF", RSUN_REF_M, "[m] Reference radius of the Sun: 696,000,000.0 m"),
        ("RSUN_OBS", rsun_obs, "[arcsec] Apparent radius of the Sun seen by SDO"),
        ("GAEX_OBS", observer.gae_m[0], "[m] Geocentric Inertial X position"),
        ("GAEY_OBS", observer.gae_m[1], "[m] Geocentric Inertial Y position"),
        ("GAEZ_OBS", observer.gae_m[2], "[m] Geocentric Inertial Z position"),
        ("HAEX_OBS", observer.hae_m[0], "[m] Heliocentric Inertial X position"),
        ("HAEY_OBS", observer.hae_m[1], "[m] Heliocentric Inertial Y position"),
        ("HAEZ_OBS", observer.hae_m[2], "[m] Heliocentric Inertial Z position"),
        ("CRLN_OBS", observer.crln_deg, "[deg] Carrington longitude of the observer"),
        ("CRLT_OBS", observer.crlt_deg, "[deg] Carrington latitude of the observer"),
        ("CAR_ROT", observer.car_rot, "Carrington rotation number of CRLN_OBS"),
        ("HGLN_OBS", observer.hgln_deg, "[deg] Stonyhurst heliographic longitude"),
        ("HGLT_OBS", observer.hglt_deg, "[deg] Stonyhurst heliographic latitude"),
        ("PIXLUNIT", "DN", "Pixel intensity unit"),
        ("DN_GAIN", 17.7, "DN/electron"),
        ("AECTYPE", 2, "AIA_IMG_AEC_TYPE"),
        ("AECMODE", "ON", "AIA_IMG_AEC_MODE"),
        ("AISTATE", "CLOSED", "AIA_IMG_ISS_LOOP"),
        ("TRECSTEP", float(cadence_s), "[second] T_REC step"),
        ("TRECEPOC", "1993.01.01_00:00:04.000_TAI", "[TAI] T_REC epoch"),
        ("KEYWDDOC", "http://www.lmsal.com/sdodocs/aiafitskeywords.pdf", ""),
        ("BLANK", BLANK, "Value of missing pixels"),
    ]
    for key, value, comment in cards:
        h[key] = (value, comment[:47])
    h.add_history("Synthetic image made by sdo-monitor (monitor.synth), not an observation.")
    if history:
        h.add_history(history)
    return h


def write_fits(path: Path, data: np.ndarray, header: fits.Header, bscale: float = 1.0) -> None:
    """Write int16 ``data`` as a RICE_1-compressed image after an empty primary HDU.

    With ``bscale`` != 1 the same integers are stored with ``BSCALE = bscale``.
    The file appears under ``path`` only once complete (written beside it, then renamed).
    """
    hdu = fits.CompImageHDU(data=data, header=header, compression_type="RICE_1",
                            tile_shape=(1, data.shape[1]))
    if bscale != 1.0:
        # Set after construction: the stored integers stay ``data`` exactly (scaling float
        # data back to int16 would cost a 4096^2 float64 pass per file).
        hdu.header["BSCALE"] = (bscale, "DN = BSCALE * stored (degradation at T_OBS)")
        hdu.header["BZERO"] = (0.0, "DN offset")
    with atomic_path(path) as tmp:
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, overwrite=True)


def write_channel(directory: Path, observation: Observation, wavelength: int,
                  cadence_s: float, history: str = "", degradation: str = BUILTIN) -> Path:
    """Write one channel of an observation into ``directory``; returns the final path.

    ``degradation`` names the table whose factor at ``T_OBS`` degrades the
    image (a ``preprocess.degradation_table`` value; ``"none"`` writes the
    rendered DN as they are). Use the daemon's own value so its correction
    undoes exactly this.
    """
    image = observation.images[wavelength]
    factor = degradation_factor(degradation, wavelength, image.t_obs)
    header = aia_header(image, observation.observer, observation.geometry, image.fsn,
                        observation.t_rec, cadence_s, history, bscale=factor)
    path = Path(directory) / aia_file_name(image)
    write_fits(path, image.data, header, bscale=factor)
    return path

