"""The analyzer's warm-up takes every path a flaring frame takes, before the first frame."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.inference import DynamicBatcher
from monitor.inference.registry import open_backend
from monitor.inference.settings import InferenceSettings
from monitor.models import load_package
from monitor.models.layout import default_package_path
from monitor.pipeline.analysis import FrameAnalyzer
from monitor.saliency import SaliencySettings


def analyzer(package_dir: Path, saliency: SaliencySettings) -> FrameAnalyzer:
    package = load_package(package_dir)
    spec = package.manifest.input
    backend = open_backend(InferenceSettings(backend="onnxruntime"), package)
    return FrameAnalyzer(package, DynamicBatcher(backend, (len(spec.channels), spec.size,
                                                           spec.size)), saliency)


@pytest.mark.parametrize("which", ["shipped", "untrained"])
def test_warm_up_measures_locates_and_refines_a_flare(which: str,
                                                     untrained_package: Path) -> None:
    path = default_package_path() if which == "shipped" else untrained_package
    a = analyzer(path, SaliencySettings())
    try:
        summary = asyncio.run(a.warm_up())
    finally:
        a.close()
    assert summary is not None and summary.targets
    regions = summary.targets[0].regions
    assert regions and regions[0].on_disk and regions[0].noaa_location  # solar coordinates
    flare = summary.flare()
    assert flare is not None, "the flare refinement did not run"
    assert flare[1].on_disk and flare[1].channels == SaliencySettings().refine_channels


def test_no_warm_up_without_saliency() -> None:
    a = analyzer(default_package_path(), replace(SaliencySettings(), enabled=False))
    try:
        assert asyncio.run(a.warm_up()) is None
    finally:
        a.close()
