"""Sources and inference backends are plugged in one way: registered by name, found by name."""

from __future__ import annotations

from pathlib import Path
from typing import get_args, get_type_hints

import pytest

from monitor.inference import BACKENDS, auto_order
from monitor.inference.registry import create_backend
from monitor.inference.settings import BackendName, InferenceSettings
from monitor.plugins import Registry
from monitor.sources import FeedSettings, SpoolFeedSettings, make_source, registered_kinds
from monitor.sources.base import SOURCES


def test_every_backend_the_config_accepts_is_registered_and_nothing_else() -> None:
    assert set(get_args(BackendName)) == {"auto", *BACKENDS.names()}
    assert auto_order() == ("tensorrt", "torch_cuda", "onnxruntime", "torch_cpu")


def test_every_feed_kind_the_config_accepts_has_a_source() -> None:
    kinds = {get_args(get_type_hints(cls)["kind"])[0] for cls in get_args(FeedSettings)}
    # tests may register sources of their own; the product's are the package's
    shipped = {kind for kind in registered_kinds()
               if SOURCES.get(kind).__module__.startswith("monitor.")}
    assert kinds == shipped == {"spool", "http", "kafka"}


def test_plugins_are_built_from_their_settings_by_name(tmp_path: Path) -> None:
    source = make_source(SpoolFeedSettings(name="aia", path=tmp_path))
    assert source.kind == "spool" and source.name == "aia"
    backend = create_backend("torch_cpu", InferenceSettings(warmup_iterations=5), tmp_path)
    assert backend.name == "torch_cpu"
    assert isinstance(backend, BACKENDS.get("torch_cpu")) and backend.warmup_iterations == 5


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="no inference backend 'tpu' .*onnxruntime"):
        BACKENDS.get("tpu")


def test_two_plugins_may_not_share_a_name() -> None:
    registry: Registry[object] = Registry("monitor.plugins_test_absent", "thing")
    registry.add("a", int)
    with pytest.raises(ValueError, match="two things named 'a'"):
        registry.add("a", str)
