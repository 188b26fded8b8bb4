"""The network family: output contract, Szenicer split, CAM identity, size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monitor.models.network import NetworkConfig, build_network, count_parameters
from monitor.models.testing import perturb, small_config


def test_outputs_have_contract_shapes_and_dtype() -> None:
    config = small_config()
    model = perturb(build_network(config, seed=0))
    x = torch.randn(3, 7, 64, 64)
    with torch.inference_mode():
        logits, irradiance, features = model(x)
    assert logits.shape == (3, 4)
    assert irradiance.shape == (3, 14)
    assert features.shape == (3, config.feature_channels, 64 // config.feature_stride,
                              64 // config.feature_stride)
    assert {logits.dtype, irradiance.dtype, features.dtype} == {torch.float32}


def test_logits_are_linear_head_of_pooled_features() -> None:
    """GAP + linear head: CAM = W . features exactly reproduces the logits when averaged."""
    model = perturb(build_network(small_config(), seed=1))
    x = torch.randn(2, 7, 64, 64)
    with torch.inference_mode():
        logits, irradiance, features = model(x)
        w, b = model.class_head.weight, model.class_head.bias
        cam = torch.einsum("kf,bfhw->bkhw", w, features)
        recon = cam.mean(dim=(2, 3)) + b
        lin = model.linear_irradiance(x)
        resid = features.mean(dim=(2, 3)) @ model.irradiance_head.weight.T \
            + model.irradiance_head.bias
    torch.testing.assert_close(recon, logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lin + resid, irradiance, rtol=1e-5, atol=1e-5)


def test_untrained_irradiance_is_the_linear_model_on_image_stats() -> None:
    """Fresh init: the CNN residual is zero, so output = stats_head(mean, std)."""
    model = build_network(small_config(), seed=2)
    x = torch.randn(2, 7, 64, 64) * 3 + 1
    with torch.inference_mode():
        _, irradiance, _ = model(x)
        stats = torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3), unbiased=False)], dim=1)
        expected = model.stats_head(stats)
    torch.testing.assert_close(irradiance, expected, rtol=1e-4, atol=1e-4)


def test_default_network_is_small_enough_to_live_in_git() -> None:
    model = build_network(NetworkConfig())
    n = count_parameters(model)
    assert 100_000 < n < 1_500_000, n
    assert model.config.feature_stride == 16  # 16x16 CAMs at 256 px


def test_config_round_trip_and_rejects_bad_shapes() -> None:
    config = small_config(widths=(8, 12), blocks=(2, 1))
    assert NetworkConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="equal length"):
        NetworkConfig(widths=(8, 16), blocks=(1,), stage_strides=(1, 2))
    with pytest.raises(ValueError, match="unknown network keys"):
        NetworkConfig.from_dict({**config.to_dict(), "dropout": 0.1})


def test_seeded_build_is_deterministic_and_does_not_touch_global_rng() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_network(small_config(), seed=7)
    after = torch.rand(1)
    b = build_network(small_config(), seed=7)
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_autocast_keeps_linear_irradiance_in_float32() -> None:
    model = perturb(build_network(small_config(), seed=4))
    x = torch.randn(2, 7, 64, 64)
    with torch.inference_mode():
        ref = model.linear_irradiance(x).numpy()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lin = model.linear_irradiance(x)
    assert lin.dtype == torch.float32
    np.testing.assert_allclose(lin.numpy(), ref, rtol=1e-6)
