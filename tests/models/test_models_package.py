"""Model packages: round trip, integrity errors naming the file, parity, CAM contract."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import load_file, save_file

from monitor.models.errors import (
    PackageFileMissingError,
    PackageFormatError,
    PackageHashMismatchError,
    PackageParityError,
)
from monitor.models.layout import MANIFEST, ONNX, WEIGHTS
from monitor.models.manifest import ChannelScaling, Manifest, ManifestError
from monitor.models.package import ModelPackage, load_package
from monitor.models.transforms import parse_scaling
from monitor.models.verify import check_parity, sha256_file


def _rehash(pkg: Path, name: str) -> None:
    """Update model.json after a deliberate change, as a careless re-packager would."""
    doc = json.loads((pkg / MANIFEST).read_text())
    doc["files"][name] = {"sha256": sha256_file(pkg / name), "bytes": (pkg / name).stat().st_size}
    (pkg / MANIFEST).write_text(json.dumps(doc))


def test_written_package_has_contract_files_and_loads(small_package: ModelPackage) -> None:
    names = {p.name for p in small_package.path.iterdir()}
    assert names == {"model.json", "model.onnx", "weights.safetensors", "metrics.json",
                     "MODEL_CARD.md"}
    loaded = load_package(small_package.path)
    assert loaded.sha256 == sha256_file(small_package.path / MANIFEST)
    assert loaded.manifest == small_package.manifest
    assert loaded.manifest.output_names == ("logits", "irradiance", "features")
    assert "random" in (small_package.path / "MODEL_CARD.md").read_text()


def test_manifest_round_trips_through_json(small_package: ModelPackage) -> None:
    doc = json.loads((small_package.path / MANIFEST).read_text())
    assert Manifest.from_dict(doc).to_dict() == doc
    scaling = doc["input"]["scaling"][0]
    assert set(scaling) == {"transform", "offset", "clip_min", "clip_max", "mean", "std"}
    assert doc["cam"]["class_weight"] == "class_head.weight"
    assert doc["outputs"]["features"]["name"] == "features"


@pytest.mark.parametrize("key, value", [("name", "../../etc"), ("name", "a/b"),
                                        ("version", ""), ("version", "1 0"),
                                        ("name", "x" * 101)])
def test_manifest_identity_is_a_plain_name(small_package: ModelPackage, key: str,
                                           value: str) -> None:
    """Name and version name the promoted package's directory: nothing path-like passes."""
    doc = json.loads((small_package.path / MANIFEST).read_text())
    with pytest.raises(ManifestError, match=f"^{key}: .*not a plain name"):
        Manifest.from_dict({**doc, key: value})


def test_flipped_byte_in_onnx_is_a_hash_error_naming_the_file(package_copy: Path) -> None:
    data = bytearray((package_copy / ONNX).read_bytes())
    data[len(data) // 2] ^= 0x01
    (package_copy / ONNX).write_bytes(bytes(data))
    with pytest.raises(PackageHashMismatchError) as info:
        load_package(package_copy)
    assert info.value.path.name == ONNX
    assert ONNX in str(info.value)


def test_truncated_weights_reported_as_truncated(package_copy: Path) -> None:
    data = (package_copy / WEIGHTS).read_bytes()
    (package_copy / WEIGHTS).write_bytes(data[: len(data) // 3])
    with pytest.raises(PackageHashMismatchError, match="truncated") as info:
        load_package(package_copy)
    assert info.value.path.name == WEIGHTS


def test_missing_file_and_missing_manifest(package_copy: Path) -> None:
    (package_copy / "metrics.json").unlink()
    with pytest.raises(PackageFileMissingError, match="metrics.json"):
        load_package(package_copy)
    (package_copy / MANIFEST).unlink()
    with pytest.raises(PackageFileMissingError, match="model.json"):
        load_package(package_copy)


def test_malformed_manifest_names_the_key(package_copy: Path) -> None:
    doc = json.loads((package_copy / MANIFEST).read_text())
    doc["input"]["scaling"][2]["transform"] = "asinh"
    (package_copy / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(PackageFormatError, match=r"input\.scaling\[2\]\.transform"):
        load_package(package_copy, verify=False)
    (package_copy / MANIFEST).write_text("{not json")
    with pytest.raises(PackageFormatError, match="not valid JSON"):
        load_package(package_copy, verify=False)


def test_changed_weights_with_updated_hash_fail_parity(package_copy: Path) -> None:
    state = load_file(str(package_copy / WEIGHTS))
    state["class_head.bias"] = state["class_head.bias"] + 0.5
    save_file(state, str(package_copy / WEIGHTS))
    _rehash(package_copy, WEIGHTS)
    with pytest.raises(PackageParityError, match="logits"):
        load_package(package_copy)


def test_pickled_weights_are_never_loaded(package_copy: Path) -> None:
    """A torch.save/pickle file in place of the safetensors is rejected, not unpickled."""
    marker = package_copy / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (package_copy / WEIGHTS).write_bytes(pickle.dumps({"w": Evil()}))
    _rehash(package_copy, WEIGHTS)
    with pytest.raises(PackageFormatError, match="safetensors"):
        load_package(package_copy)
    assert not marker.exists()


def test_onnx_has_dynamic_batch_and_matches_torch(small_package: ModelPackage) -> None:
    session = ort.InferenceSession(str(small_package.onnx_path),
                                   providers=["CPUExecutionProvider"])
    model = small_package.build_torch_model()
    for batch in (1, 5):
        x = np.random.default_rng(batch).normal(size=(batch, 7, 64, 64)).astype(np.float32)
        got = session.run(None, {"image": x})
        with torch.inference_mode():
            ref = [t.numpy() for t in model(torch.from_numpy(x))]
        for a, b in zip(got, ref):
            assert a.shape[0] == batch
            assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()
    report = check_parity(small_package)
    assert report.ok and set(report.relative) == {"logits", "irradiance", "features"}


def test_cam_head_weights_reproduce_onnx_logits(small_package: ModelPackage) -> None:
    """Saliency from any backend: logits = W . GAP(features) + b on the ONNX outputs."""
    session = ort.InferenceSession(str(small_package.onnx_path),
                                   providers=["CPUExecutionProvider"])
    logits, _, features = session.run(None, {"image": small_package.probe_input(3)})
    heads = small_package.head_weights()
    recon = features.mean(axis=(2, 3)) @ heads["class_weight"].T + heads["class_bias"]
    np.testing.assert_allclose(recon, logits, rtol=1e-4, atol=1e-5)


def test_irradiance_inverse_gives_w_m2(small_package: ModelPackage) -> None:
    manifest = small_package.manifest
    y = np.array([[6e-6, 2e-5, 1e-6, 1.5e-4, 8e-5, 1e-4, 7e-5, 5e-5, 3e-5, 1.2e-4, 1e-4,
                   5e-4, 5e-5, 4e-5]])
    z = np.stack([line.forward(y[:, i]) for i, line in enumerate(manifest.lines)], axis=-1)
    np.testing.assert_allclose(manifest.irradiance_w_m2(z), y, rtol=1e-12)
    assert all(line.unit == "W m^-2" for line in manifest.lines)


def test_channel_scaling_requires_exact_contract_keys() -> None:
    good = {"transform": "sqrt", "offset": 0.0, "clip_min": None, "clip_max": 100.0,
            "mean": 1.0, "std": 2.0}
    scaling = parse_scaling(good)
    assert isinstance(scaling, ChannelScaling)  # the class preprocessing applies
    assert scaling.to_dict() == good
    with pytest.raises(ManifestError, match="unexpected"):
        parse_scaling({**good, "gamma": 2.2})
    with pytest.raises(ManifestError, match="std"):
        parse_scaling({**good, "std": 0.0})
    with pytest.raises(ManifestError, match=r"input.scaling\[2\]: clip_min must be < clip_max"):
        parse_scaling({**good, "clip_min": 100.0}, "input.scaling[2]")


def test_missing_default_package_says_how_to_get_one() -> None:
    from monitor.models.layout import default_package_path

    if default_package_path().is_dir():
        pytest.skip("a default package is installed")
    with pytest.raises(PackageFileMissingError, match="no default model package"):
        load_package(default_package_path())
