"""Forward-pass CAM equals autograd Grad-CAM (times Z = h*w), on a random SolarResNet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from monitor.models.network import build_network
from monitor.models.testing import make_random_package, perturb, small_config
from monitor.saliency.cam import HeadWeights, Target, class_activation_maps, upsample_bilinear
from monitor.saliency.gradcam import grad_cam


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    # Perturbed: fresh networks have identity batch norms and a zero irradiance head.
    return perturb(build_network(small_config(), seed=3), seed=3)


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(7).standard_normal((3, 7, 64, 64),
                                                                     dtype=np.float32))


def heads_of(model: torch.nn.Module) -> HeadWeights:
    cfg = model.config
    return HeadWeights(class_weight=model.class_head.weight.detach().numpy(),
                       irradiance_weight=model.irradiance_head.weight.detach().numpy(),
                       class_names=tuple(f"c{i}" for i in range(cfg.num_classes)),
                       line_names=tuple(f"l{i}" for i in range(cfg.num_lines)),
                       line_wavelengths_nm=tuple(10.0 + i for i in range(cfg.num_lines)))


def test_cam_equals_gradcam_times_positions(model: torch.nn.Module, image: torch.Tensor) -> None:
    targets = [Target("class", i, f"c{i}") for i in range(model.config.num_classes)]
    targets += [Target("irradiance", 0, "l0"), Target("irradiance", 5, "l5")]
    with torch.no_grad():
        _, _, features = model(image)
    feats = features.numpy()
    z = feats.shape[2] * feats.shape[3]
    cam = class_activation_maps(feats, heads_of(model).weights_for(targets))
    reference = grad_cam(model, image, targets)

    assert cam.shape == reference.shape == (3, len(targets), 16, 16)
    # Non-trivial maps: positive somewhere, zero (ReLU) somewhere, not constant.
    assert (cam > 0).any() and (cam == 0).any() and cam.std() > 0
    # Exact relation: Grad-CAM weights are W_ck / Z, so CAM = Z * Grad-CAM.
    np.testing.assert_allclose(z * reference, cam, rtol=1e-4, atol=1e-5 * float(cam.max()))
    # After normalisation to each map's peak they are the same map.
    peak_cam = cam.max(axis=(2, 3), keepdims=True)
    peak_ref = reference.max(axis=(2, 3), keepdims=True)
    live = peak_cam[..., 0, 0] > 0
    np.testing.assert_allclose((reference / np.where(peak_ref > 0, peak_ref, 1))[live],
                               (cam / np.where(peak_cam > 0, peak_cam, 1))[live], atol=1e-5)


def test_cam_mean_is_logit_minus_bias(model: torch.nn.Module, image: torch.Tensor) -> None:
    # Why the CAM explains the logit: before the ReLU its spatial mean is the logit - bias.
    with torch.no_grad():
        logits, _, features = model(image)
    w = model.class_head.weight.detach().numpy()
    b = model.class_head.bias.detach().numpy()
    pre_relu = np.einsum("kf,bfhw->bkhw", w, features.numpy())
    np.testing.assert_allclose(pre_relu.mean(axis=(2, 3)) + b, logits.numpy(), rtol=1e-4,
                               atol=1e-5)


def test_onnxruntime_features_give_the_torch_gradcam(tmp_path: Path) -> None:
    import onnxruntime as ort

    package = make_random_package(tmp_path / "pkg", size=64, seed=11, verify=False)
    heads = HeadWeights.from_package(package)
    session = ort.InferenceSession(str(package.onnx_path), providers=["CPUExecutionProvider"])
    x = package.probe_input(batch=2)
    logits, _, features = session.run(None, {package.manifest.input.name: x})
    targets = [Target("class", int(np.argmax(logits[0])), "predicted"),
               Target("irradiance", 3, heads.line_names[3])]
    cam = class_activation_maps(features, heads.weights_for(targets))

    model = package.build_torch_model()
    reference = grad_cam(model, torch.from_numpy(x), targets)
    z = features.shape[2] * features.shape[3]
    assert cam.max() > 0
    np.testing.assert_allclose(z * reference, cam, rtol=1e-3, atol=1e-4 * float(cam.max()))
    assert heads.class_names == package.manifest.classes.classes
    assert heads.line_wavelengths_nm[0] == pytest.approx(9.39)


def test_upsampling_keeps_registration_and_sign() -> None:
    # A feature pixel's centre is the centre of the s input pixels it summarises,
    # so a map peaked in feature pixel (i, j) peaks at grid pixels i*s .. i*s+s-1.
    cam = np.zeros((1, 16, 16), np.float32)
    cam[0, 5, 9] = 1.0
    up = upsample_bilinear(cam, 256)
    assert up.shape == (1, 256, 256)
    assert up.min() >= 0.0
    rows = np.nonzero(up[0].max(axis=1) == up.max())[0]
    cols = np.nonzero(up[0].max(axis=0) == up.max())[0]
    assert rows.min() >= 5 * 16 and rows.max() <= 5 * 16 + 15
    assert cols.min() >= 9 * 16 and cols.max() <= 9 * 16 + 15
    # Centre of mass stays at the feature pixel's centre (7.5 px into it).
    yy, xx = np.mgrid[0:256, 0:256]
    assert float((up[0] * yy).sum() / up[0].sum()) == pytest.approx(5 * 16 + 7.5, abs=0.01)
    assert float((up[0] * xx).sum() / up[0].sum()) == pytest.approx(9 * 16 + 7.5, abs=0.01)
    # A constant map stays constant (edges clamped, no darkening at the border).
    np.testing.assert_allclose(upsample_bilinear(np.ones((4, 4), np.float32), 64), 1.0,
                               rtol=1e-6)
