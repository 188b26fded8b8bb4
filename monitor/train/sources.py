"""Where samples come from: the synthetic Sun (dataset API or its file-path twin) or SDOML.

Each source yields :class:`~monitor.train.data.SplitBuilder` objects (one per
split) whose ``draw(index)`` returns one sample as plain arrays; the cache in
:mod:`monitor.train.data` draws them in parallel once.

``SyntheticDraw`` takes ``SyntheticDataset`` samples (rendered straight onto the
model grid). ``TwinDraw`` takes the *same* Suns but renders them as level-1
FITS files of a given size and reads them back through ingest and
preprocessing, exactly as the daemon would (:mod:`monitor.train.twin`).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from monitor.synth.worlds import DEFAULT_WORLD
from monitor.train.data import KERNEL_FIELDS, MAX_KERNELS, SampleTuple, SplitBuilder
from monitor.train.settings import SyntheticSourceSettings, TrainConfig

__all__ = ["SyntheticDraw", "TwinDraw", "synthetic_builders", "twin_builder"]


def _kernel_rows(kernels: Any) -> np.ndarray:
    rows = [[k.x_px, k.y_px, k.sigma_px, k.flux_share, float(k.visible)]
            for k in list(kernels)[:MAX_KERNELS]]
    return np.asarray(rows, dtype=np.float32).reshape(-1, len(KERNEL_FIELDS))


@dataclass
class SyntheticDraw:
    """``draw(index)`` of ``SyntheticDataset(size, channels, seed, ...)`` (picklable).

    The dataset object itself is created lazily in each process.
    """

    size: int
    channels: tuple[int, ...]
    seed: int
    class_mix: tuple[float, ...]
    max_regions: int
    noise: bool
    world: str = DEFAULT_WORLD
    _dataset: Any = field(default=None, init=False, repr=False, compare=False)

    def dataset(self) -> Any:
        """The underlying ``SyntheticDataset``."""
        if self._dataset is None:
            from monitor.synth import SyntheticDataset

            self._dataset = SyntheticDataset(
                size=self.size, channels=self.channels, seed=self.seed,
                length=1 << 30, class_mix=tuple(self.class_mix),  # type: ignore[arg-type]
                max_regions=self.max_regions, noise=self.noise, world=self.world)
        return self._dataset

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_dataset"] = None
        return state

    def __call__(self, index: int) -> SampleTuple:
        sample = self.dataset().sample(int(index))
        labels = sample.labels
        return (sample.image, int(labels.class_index), float(labels.goes_flux),
                np.asarray(labels.irradiance, dtype=np.float64), _kernel_rows(labels.kernels),
                float(index))


@dataclass
class TwinDraw(SyntheticDraw):
    """The same Suns as :class:`SyntheticDraw`, written as ``file_size`` px FITS and read back.

    Kernel positions come from the files' truth (helioprojective) mapped onto
    the model grid through the frame's own geometry, i.e. what the daemon's
    saliency summary would be compared with. When ingest rejects a file the
    call raises ``RuntimeError``, or with ``fallback`` returns the dataset sample.
    """

    file_size: int = 1024
    fallback: bool = False

    def __call__(self, index: int) -> SampleTuple:
        return self.frame(index)[0]

    def frame(self, index: int) -> tuple[SampleTuple, Any]:
        """The sample and the frame's ``FrameGeometry`` (None for a dataset fallback)."""
        from monitor.train.twin import dataset_scene, read_frame, write_twin_files

        draw = dataset_scene(self.dataset(), int(index))
        tmp = Path(tempfile.mkdtemp(prefix="sdo-twin-"))
        try:
            frame = write_twin_files(draw, tmp, self.channels, size=self.file_size)
            try:
                image, geometry = read_frame(frame.paths, self.channels, self.size)
            except RuntimeError:
                if not self.fallback:
                    raise
                # The daemon would drop this frame (e.g. 94 A rejected as dark at a short
                # AEC exposure): for a training set keep the dataset rendering instead.
                return super().__call__(index), None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        truth = frame.truth
        kernels = []
        if truth.flares:
            for k in truth.flares[0].kernels[:MAX_KERNELS]:
                x, y = geometry.world_to_pixel(k.tx_arcsec, k.ty_arcsec)
                sigma = k.sigma_arcsec / geometry.arcsec_per_px
                kernels.append([float(x), float(y), sigma, k.flux_share, float(k.visible)])
        rows = np.asarray(kernels, dtype=np.float32).reshape(-1, len(KERNEL_FIELDS))
        sample = (image, int(truth.event_class_index), float(truth.goes_flux),
                  np.asarray(truth.irradiance, dtype=np.float64), rows, float(index))
        return sample, geometry


def _draw_for(source: SyntheticSourceSettings, config: TrainConfig, seed: int) -> SyntheticDraw:
    return SyntheticDraw(size=config.model.size, channels=tuple(config.model.channels),
                         seed=seed, class_mix=tuple(source.class_mix),
                         max_regions=source.max_regions, noise=source.noise, world=source.world)


def _key(draw: SyntheticDraw, kind: str) -> dict[str, Any]:
    return {"source": kind, "size": draw.size, "channels": list(draw.channels),
            "seed": draw.seed, "class_mix": list(draw.class_mix),
            "max_regions": draw.max_regions, "noise": draw.noise, "world": draw.world,
            **({"file_size": draw.file_size} if isinstance(draw, TwinDraw) else {})}


def synthetic_builders(config: TrainConfig) -> dict[str, SplitBuilder]:
    """Train, validation and test builders of a synthetic-source config."""
    source = config.data
    assert isinstance(source, SyntheticSourceSettings)
    offset = config.model.input_offset
    out = {}
    for name, seed, count in (("train", source.train_seed, source.train_samples),
                              ("val", source.val_seed, source.val_samples),
                              ("test", source.test_seed, source.test_samples)):
        draw = _draw_for(source, config, seed)
        out[name] = SplitBuilder(name, count, _key(draw, "synthetic"), draw, offset)
    return out


def twin_builder(config: TrainConfig, name: str, seed: int, count: int,
                 file_size: int) -> SplitBuilder:
    """A split of synthetic Suns seen through FITS files and the daemon's read path."""
    source = config.data
    assert isinstance(source, SyntheticSourceSettings)
    base = _draw_for(source, config, seed)
    draw = TwinDraw(size=base.size, channels=base.channels, seed=seed,
                    class_mix=base.class_mix, max_regions=base.max_regions, noise=base.noise,
                    world=base.world, file_size=file_size, fallback=True)
    return SplitBuilder(name, count, _key(draw, "synthetic-files"), draw,
                        config.model.input_offset)
