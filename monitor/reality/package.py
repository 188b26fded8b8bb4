"""A model package's view of the synthetic world (``sdo-monitor reality --package``).

The package sees flare-free synthetic Suns on its own grid through its own
scaling and ONNX Runtime, as the daemon runs it; its predicted EVE lines are
then compared with the real quiet Sun like the world's own truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monitor.synth.dataset import SyntheticDataset
from monitor.synth.worlds import World

__all__ = ["package_quiet_levels"]


def package_quiet_levels(package_dir: Path, world: World, count: int, seed: int = 0
                         ) -> np.ndarray:
    """Predicted EVE lines (count, 14) of ``count`` flare-free Suns of ``world``."""
    from monitor.models.package import load_package
    from monitor.train.filecheck import run_package

    package = load_package(package_dir)
    size = package.manifest.input.size
    channels = tuple(package.manifest.input.channels)
    dataset = SyntheticDataset(size=size, channels=channels, seed=7_000 + seed,
                               length=1 << 30, class_mix=(1.0, 0.0, 0.0, 0.0), world=world)
    images = []
    i = 0
    while len(images) < count:
        sample = dataset.sample(i)
        i += 1
        if sample.labels.class_index == 0 and sample.labels.flare_class is None:
            images.append(sample.image)
    return np.asarray(run_package(package, images).irradiance, dtype=np.float64)
