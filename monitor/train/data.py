"""Training data as cached arrays: images quantised in log space, labels beside them.

A training step on the production network costs about 8 ms per sample on two
CPU cores, drawing a synthetic 256 px sample about 40 ms: samples are drawn
once, in parallel, and cached on disk. Each split is a directory::

    <cache>/<split>-<key>/images.npy   (n, C, N, N) uint16, memory-mapped
    <cache>/<split>-<key>/labels.npz   class index, GOES flux, EVE lines, kernels, times
    <cache>/<split>-<key>/meta.json    the settings the key was made from, a fingerprint

The key hashes every setting that changes the samples, so a changed config
draws new samples, and the fingerprint (sample 0 drawn again on load) catches
a changed synthetic Sun behind the same settings.

Images are stored as ``T = log10(max(img + offset, 1e-2))`` (``img`` in DN/s on
the model grid) quantised linearly on [-2, 8] in 65535 steps (1.5e-4 dex, i.e.
0.035 % of the count rate): what the log10 input scaling of the package
needs, at half the size of float32 and more precise than float16 (which
would cost 0.5 % at the bright end).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monitor.logs import get_logger

__all__ = [
    "KERNEL_FIELDS",
    "MAX_KERNELS",
    "QUANT_HI",
    "QUANT_LO",
    "Split",
    "SplitBuilder",
    "StackedImages",
    "cached_split",
    "concat_splits",
    "dequantize",
    "quantize",
]

log = get_logger(__name__)

QUANT_LO: float = -2.0
QUANT_HI: float = 8.0
_QSTEP: float = (QUANT_HI - QUANT_LO) / 65535.0
#: Flare kernels kept per sample, and their fields (grid px; visible as 0/1).
MAX_KERNELS: int = 3
KERNEL_FIELDS: tuple[str, ...] = ("x_px", "y_px", "sigma_px", "flux_share", "visible")
_FORMAT = 1


def quantize(image: np.ndarray, offset: float) -> np.ndarray:
    """``(C, N, N)`` DN/s -> uint16 codes of ``log10(max(img + offset, 1e-2))``."""
    t = np.log10(np.maximum(np.asarray(image, dtype=np.float32) + np.float32(offset),
                            np.float32(10.0 ** QUANT_LO)))
    q = np.rint((t - np.float32(QUANT_LO)) * np.float32(1.0 / _QSTEP))
    return np.clip(q, 0, 65535).astype(np.uint16)


def dequantize(codes: np.ndarray) -> np.ndarray:
    """uint16 codes -> ``log10(img + offset)`` as float32 (numpy)."""
    return codes.astype(np.float32) * np.float32(_QSTEP) + np.float32(QUANT_LO)


@dataclass
class Split:
    """One split's samples: images as log-space codes and their labels.

    Attributes
    ----------
    name : str
        ``train``, ``val``, ``test`` (or another label).
    images : numpy.ndarray
        ``(n, C, N, N)`` uint16 codes (see :func:`quantize`), usually a memmap.
    class_index : numpy.ndarray
        ``(n,)`` event class (0 none, 1 C, 2 M, 3 X).
    goes_flux : numpy.ndarray
        ``(n,)`` XRS-B flux, W m^-2.
    irradiance : numpy.ndarray
        ``(n, L)`` EVE lines, W m^-2.
    kernels : numpy.ndarray
        ``(n, MAX_KERNELS, 5)`` flare kernels (:data:`KERNEL_FIELDS`), NaN rows
        where there are fewer (or no known) kernels.
    times : numpy.ndarray
        ``(n,)`` observation time, POSIX seconds (synthetic: the sample index).
    offset : float
        The DN/s offset inside the log of the codes.
    """

    name: str
    images: np.ndarray
    class_index: np.ndarray
    goes_flux: np.ndarray
    irradiance: np.ndarray
    kernels: np.ndarray
    times: np.ndarray
    offset: float

    def __len__(self) -> int:
        return int(self.class_index.shape[0])

    def subset(self, rows: np.ndarray, name: str | None = None) -> Split:
        """The samples at ``rows`` (images are copied out of the memmap)."""
        rows = np.asarray(rows, dtype=np.int64)
        return Split(name or self.name, np.asarray(self.images[rows]), self.class_index[rows],
                     self.goes_flux[rows], self.irradiance[rows], self.kernels[rows],
                     self.times[rows], self.offset)

    def class_counts(self, num_classes: int = 4) -> np.ndarray:
        """Samples per class."""
        return np.bincount(self.class_index, minlength=num_classes)


#: One drawn sample: image (C, N, N) DN/s, class, flux, lines (L,), kernels (K, 5), time.
SampleTuple = tuple[np.ndarray, int, float, np.ndarray, np.ndarray, float]


@dataclass(frozen=True)
class SplitBuilder:
    """How to draw the samples of one split; picklable so workers can draw in parallel.

    Parameters
    ----------
    name : str
        Split name (part of the cache directory name).
    count : int
        Number of samples.
    key : dict
        Every setting the samples depend on (hashed into the cache key).
    draw : callable
        ``draw(index) -> SampleTuple``; a module-level function or a picklable object.
    offset : float
        DN/s offset of the log codes.
    """

    name: str
    count: int
    key: dict[str, Any]
    draw: Callable[[int], SampleTuple]
    offset: float

    @property
    def digest(self) -> str:
        """Cache key: sha256 of the settings (first 16 hex digits)."""
        text = json.dumps({"format": _FORMAT, "offset": self.offset, "count": self.count,
                           **self.key}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode(builder: SplitBuilder, index: int) -> tuple[int, np.ndarray, int, float, np.ndarray,
                                                        np.ndarray, float]:
    image, cls, flux, irr, kernels, when = builder.draw(index)
    return index, quantize(image, builder.offset), cls, flux, irr, kernels, when


_WORKER_BUILDER: SplitBuilder | None = None


def _worker_init(builder: SplitBuilder) -> None:
    global _WORKER_BUILDER
    _WORKER_BUILDER = builder
    # Workers share the cores with each other: one thread each.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - opencv is a dependency of the synthetic Sun
        pass


def _worker_draw(index: int) -> tuple[int, np.ndarray, int, float, np.ndarray, np.ndarray, float]:
    assert _WORKER_BUILDER is not None
    return _encode(_WORKER_BUILDER, index)


def _drawn(builder: SplitBuilder, workers: int) -> Iterator[tuple[int, np.ndarray, int, float,
                                                                  np.ndarray, np.ndarray,
                                                                  float]]:
    indices = range(builder.count)
    if workers <= 1 or builder.count < 16:
        for i in indices:
            yield _encode(builder, i)
        return
    # spawn, not fork: a forked child inherits thread pools whose threads do not exist in
    # it (monitor.preprocess caches a ThreadPoolExecutor per thread count; once the parent
    # has drawn a file-path sample, a forked worker blocks forever on its first resample).
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_worker_init, initargs=(builder,)) as pool:
        yield from pool.imap_unordered(_worker_draw, indices, chunksize=4)


def _fingerprint(builder: SplitBuilder) -> dict[str, Any]:
    _, codes, cls, flux, irr, _, _ = _encode(builder, 0)
    first = float(irr[0])
    return {"class": int(cls), "flux": float(flux),
            "irr0": first if np.isfinite(first) else None,
            "codes_sum": int(codes.astype(np.int64).sum())}


def cached_split(builder: SplitBuilder, cache_dir: Path, *, workers: int = 1,
                 progress: Callable[[int, int], None] | None = None) -> Split:
    """Load a split from the cache, drawing (and caching) it first when needed.

    Parameters
    ----------
    builder : SplitBuilder
        What to draw.
    cache_dir : pathlib.Path
        Cache root.
    workers : int
        Processes drawing samples in parallel.
    progress : callable, optional
        ``progress(done, total)`` while drawing.
    """
    directory = Path(cache_dir) / f"{builder.name}-{builder.digest}"
    meta_path = directory / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("complete") and meta.get("fingerprint") == _fingerprint(builder):
            log.info("cached split reused", split=builder.name, samples=builder.count,
                     path=str(directory))
            return _load(directory, builder)
        log.warning("cache entry stale or incomplete; drawing again", split=builder.name,
                    path=str(directory))
    _build(builder, directory, workers, progress)
    return _load(directory, builder)


def _build(builder: SplitBuilder, directory: Path, workers: int,
           progress: Callable[[int, int], None] | None) -> None:
    tmp = directory.with_name(directory.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n = builder.count
    first = _encode(builder, 0)
    images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint16,
                                       shape=(n, *first[1].shape))
    classes = np.zeros(n, np.int64)
    flux = np.zeros(n, np.float64)
    irr = np.zeros((n, first[4].shape[0]), np.float64)
    kernels = np.full((n, MAX_KERNELS, len(KERNEL_FIELDS)), np.nan, np.float32)
    times = np.zeros(n, np.float64)
    for done, (i, codes, cls, f, lines, kern, when) in enumerate(_drawn(builder, workers), 1):
        images[i] = codes
        classes[i], flux[i], irr[i], times[i] = cls, f, lines, when
        kernels[i, :len(kern)] = kern[:MAX_KERNELS]
        if progress is not None:
            progress(done, n)
    images.flush()
    del images
    np.savez(tmp / "labels.npz", class_index=classes, goes_flux=flux, irradiance=irr,
             kernels=kernels, times=times)
    meta = {"split": builder.name, "count": n, "offset": builder.offset, "key": builder.key,
            "fingerprint": _fingerprint(builder), "complete": True}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
    log.info("split drawn and cached", split=builder.name, samples=n, path=str(directory))


def _load(directory: Path, builder: SplitBuilder) -> Split:
    images = np.load(directory / "images.npy", mmap_mode="r")
    with np.load(directory / "labels.npz") as z:
        return Split(builder.name, images, z["class_index"], z["goes_flux"], z["irradiance"],
                     z["kernels"], z["times"], builder.offset)


class StackedImages:
    """Several image arrays (memmaps) seen as one along the first axis, without copying."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self.parts = list(parts)
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])
        self.shape = (int(self.starts[-1]), *self.parts[0].shape[1:])
        self.dtype = self.parts[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: Any) -> np.ndarray:
        index = np.arange(self.shape[0])[rows]
        if np.ndim(index) == 0:
            part = int(np.searchsorted(self.starts, index, side="right") - 1)
            return np.asarray(self.parts[part][index - self.starts[part]])
        out = np.empty((len(index), *self.shape[1:]), self.dtype)
        part = np.searchsorted(self.starts, index, side="right") - 1
        for p in np.unique(part):
            sel = part == p
            out[sel] = self.parts[p][np.sort(index[sel] - self.starts[p])][
                np.argsort(np.argsort(index[sel]))]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self[:], dtype=dtype)


def concat_splits(name: str, parts: Sequence[Split]) -> Split:
    """Concatenate splits; images stay memory-mapped (:class:`StackedImages`)."""
    return Split(name, StackedImages([p.images for p in parts]),  # type: ignore[arg-type]
                 np.concatenate([p.class_index for p in parts]),
                 np.concatenate([p.goes_flux for p in parts]),
                 np.concatenate([p.irradiance for p in parts]),
                 np.concatenate([p.kernels for p in parts]),
                 np.concatenate([p.times for p in parts]), parts[0].offset)
