"""The analyzer's warm-up takes every path a flaring frame takes, before the first frame."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.inference.settings import InferenceSettings
from monitor.models import load_package
from monitor.models.layout import default_package_path
from monitor.pipeline.serving import open_serving
from monitor.saliency import SaliencySettings
from monitor.saliency.summary import SaliencySummary


def warm_up(package_dir: Path, saliency: SaliencySettings, cache: Path) -> SaliencySummary | None:
    """Open the model as the daemon does (which warms it up), then warm it up once more to
    see what the warm-up explained."""
    async def run() -> SaliencySummary | None:
        serving = await open_serving(load_package(package_dir),
                                     InferenceSettings(backend="onnxruntime"), saliency, cache,
                                     observers=(), more_coming=lambda: False, finish_build=False)
        try:
            return await serving.analyzer.warm_up()
        finally:
            await serving.close()

    return asyncio.run(run())


@pytest.mark.parametrize("which", ["shipped", "untrained"])
def test_warm_up_measures_locates_and_refines_a_flare(which: str, untrained_package: Path,
                                                     tmp_path: Path) -> None:
    path = default_package_path() if which == "shipped" else untrained_package
    summary = warm_up(path, SaliencySettings(), tmp_path)
    assert summary is not None and summary.targets
    regions = summary.targets[0].regions
    assert regions and regions[0].on_disk and regions[0].noaa_location  # solar coordinates
    flare = summary.flare()
    assert flare is not None, "the flare refinement did not run"
    assert flare[1].on_disk and flare[1].channels == SaliencySettings().refine_channels


def test_no_warm_up_without_saliency(tmp_path: Path) -> None:
    assert warm_up(default_package_path(), replace(SaliencySettings(), enabled=False),
                   tmp_path) is None
