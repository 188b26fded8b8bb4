"""The shipped default package: verified on load, and as good on fresh Suns as it says.

The fresh held-out set uses seed 9001, which no training config of the package
uses (its train/val/test/file seeds are recorded in metrics.json and checked
here). Samples go through the package's own scaling and ONNX Runtime, like
the daemon. The thresholds asserted are the targets recorded in the
package's metrics.json (the worst EVE line within sampling noise of its
recorded value).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from monitor.models import default_package_path, load_package
from monitor.models.verify import sha256_file
from monitor.train.evaluate import evaluate_predictions
from monitor.train.filecheck import run_package
from monitor.train.report import targets_table
from monitor.train.sources import SyntheticDraw

FRESH_SEED = 9001
FRESH_SAMPLES = 48


@pytest.fixture(scope="module")
def package():   # type: ignore[no-untyped-def]
    return load_package(default_package_path(), verify=True)


def test_default_package_is_verified_and_small(package) -> None:  # type: ignore[no-untyped-def]
    assert package.verified
    files = package.manifest.files
    for name, entry in files.items():
        assert sha256_file(package.path / name) == entry.sha256
    total = sum(p.stat().st_size for p in package.path.iterdir())
    assert total < 10 * 1024 * 1024
    m = package.manifest
    assert m.input.size == 256 and m.input.channels == (94, 131, 171, 193, 211, 304, 335)
    assert m.classes.classes == ("none", "C", "M", "X") and len(m.lines) == 14
    card = (package.path / "MODEL_CARD.md").read_text()
    assert "synthetic data only" in card and "retrained on real SDO" in card


def test_default_package_meets_its_recorded_targets_on_fresh_suns(package) -> None:  # type: ignore[no-untyped-def]
    recorded = json.loads((package.path / "metrics.json").read_text())
    data = recorded["data"]
    assert FRESH_SEED not in {data["train_seed"], data["val_seed"], data["test_seed"],
                              data["file_test_seed"]}
    draw = SyntheticDraw(size=256, channels=package.manifest.input.channels, seed=FRESH_SEED,
                         class_mix=tuple(data["class_mix"]), max_regions=data["max_regions"],
                         noise=True, world=data["world"])
    samples = [draw(i) for i in range(FRESH_SAMPLES)]
    pred = run_package(package, [s[0] for s in samples])
    kernels = np.full((len(samples), 3, 5), np.nan, np.float32)
    for i, s in enumerate(samples):
        kernels[i, :len(s[4])] = s[4][:3]
    fresh = evaluate_predictions(
        pred, np.array([s[1] for s in samples]), np.array([s[2] for s in samples]),
        np.stack([s[3] for s in samples]), kernels, package.manifest.classes.classes,
        [line.name for line in package.manifest.lines], tolerance_px=16.0, bins=10)
    rows, _ = targets_table(fresh)
    met_when_recorded = {r["target"]: r["met"] for r in recorded["targets"]}
    recorded_worst = recorded["test"]["irradiance"]["model"]["worst_line"]
    for row in rows:
        if row["target"] == "irradiance worst line":
            # A median of 48 Fe XX errors scatters by ~15 %, so 48 Suns can only check it
            # has not regressed from its 800-Sun value (3.8 % on the test Suns, 4.0 % on
            # the untouched ones, metrics.json; the goal is 5 %).
            assert row["value"] <= 1.25 * recorded_worst, (row, recorded_worst)
        elif met_when_recorded.get(row["target"]):
            assert row["met"], (row, fresh["classification"]["thresholds"][">=M"])
    # The linear baseline is recorded too; the CNN must stay clearly better than it.
    assert fresh["irradiance"]["model"]["worst_line"] < \
        0.5 * fresh["irradiance"]["linear_baseline"]["worst_line"]
