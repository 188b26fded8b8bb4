"""ChannelScaling: the model.json contract, values, edge cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from monitor.preprocess import ChannelScaling, apply_scaling

LOG = {"transform": "log10", "offset": 1.0, "clip_min": 0.0, "clip_max": 4.0,
       "mean": 2.0, "std": 0.5}


def test_preprocess_scaling_round_trips_through_json() -> None:
    scaling = ChannelScaling.from_dict(json.loads(json.dumps(LOG)))
    assert scaling.to_dict() == LOG
    assert ChannelScaling.from_dict(scaling.to_dict()) == scaling


def test_preprocess_scaling_formula() -> None:
    scaling = ChannelScaling.from_dict(LOG)
    image = np.array([[99.0, 0.0], [-5.0, 1e6]], dtype=np.float32)
    out = scaling.apply(image)
    # (clip(log10(img + 1), 0, 4) - 2) / 0.5
    expected = np.array([[(2.0 - 2) / 0.5, (0.0 - 2) / 0.5], [(0.0 - 2) / 0.5, (4.0 - 2) / 0.5]])
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out.dtype == np.float32


def test_preprocess_scaling_sqrt_linear_and_nonpositive() -> None:
    sqrt = ChannelScaling("sqrt", offset=0.0, mean=1.0, std=2.0)
    np.testing.assert_allclose(sqrt.apply(np.array([9.0, -4.0])), [1.0, -0.5])
    linear = ChannelScaling("linear", offset=10.0, clip_min=None, clip_max=50.0, mean=0.0,
                            std=10.0)
    np.testing.assert_allclose(linear.apply(np.array([5.0, 100.0])), [1.5, 5.0])
    unclipped_log = ChannelScaling("log10")  # no clip: non-positive input stays finite
    assert np.all(np.isfinite(unclipped_log.apply(np.array([0.0, -3.0, 1.0]))))


def test_preprocess_scaling_invert() -> None:
    scaling = ChannelScaling.from_dict(LOG)
    image = np.array([5.0, 50.0, 500.0], dtype=np.float32)
    np.testing.assert_allclose(scaling.invert(scaling.apply(image)), image, rtol=1e-5)


@pytest.mark.parametrize(("change", "word"), [
    ({"transform": "ln"}, "transform"),
    ({"std": 0.0}, "std"),
    ({"clip_min": 3.0, "clip_max": 1.0}, "clip_min"),
    ({"mean": "2"}, "mean"),
    ({"offset": True}, "offset"),
    ({"extra": 1}, "unknown"),
    ({"mean": float("nan")}, "finite"),
])
def test_preprocess_scaling_rejects_bad_dicts(change: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        ChannelScaling.from_dict({**LOG, **change})


def test_preprocess_scaling_requires_every_key() -> None:
    data = dict(LOG)
    del data["std"]
    with pytest.raises(ValueError, match="missing"):
        ChannelScaling.from_dict(data)


def test_preprocess_apply_scaling_per_channel() -> None:
    frames = np.stack([np.full((4, 4), 100.0), np.full((4, 4), 16.0)]).astype(np.float32)
    scalings = (ChannelScaling("log10", mean=1.0, std=1.0), ChannelScaling("sqrt", std=4.0))
    out = apply_scaling(frames, scalings)
    assert out.shape == (2, 4, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(out[1], 1.0, rtol=1e-6)
    with pytest.raises(ValueError):
        apply_scaling(frames, scalings[:1])
    with pytest.raises(ValueError):
        apply_scaling(frames[0], scalings)
