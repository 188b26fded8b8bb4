"""The shadow packages' spare-capacity rule, as a synchronous unit and in a running stage.

:class:`SparePolicy` decides from plain numbers and a clock passed in; the
stage test runs a real (tiny) package on a real batcher and shows
``sdo_monitor_shadow_skipped_total`` move when the serving side is busy, and
``sdo_monitor_shadow_frames_total`` when it is not.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from monitor.frames import ChannelItem, Frame
from monitor.inference import InferenceSettings
from monitor.models import ModelPackage
from monitor.models.testing import make_random_package
from monitor.observe.metrics import Metrics
from monitor.pipeline.analysis import AnalysedFrame, IrradianceLine, ShadowResult
from monitor.pipeline.handoffs import IngestedFile
from monitor.pipeline.messages import shadow_data
from monitor.pipeline.shadow import (
    ShadowStage,
    compatibility_problem,
    irradiance_difference,
    open_shadow,
)
from monitor.pipeline.spare import SKIP_REASONS, Load, SparePolicy
from monitor.publish.envelope import make_event, validate_event

IDLE = Load(files_waiting=0, frames_waiting=0, inference_queued=0, analyses_running=0)


def test_policy_runs_a_shadow_only_with_spare_capacity() -> None:
    policy = SparePolicy(max_lag_s=60.0)
    arrived, now = 1_000.0, 1_000.5
    assert policy.skip_reason(IDLE, False, arrived, now) is None
    cases = {
        "files_waiting": (Load(3, 0, 0, 0), False, now),
        "frames_waiting": (Load(0, 1, 0, 0), False, now),
        "inference_queued": (Load(0, 0, 2, 0), False, now),
        "analyses_running": (Load(0, 0, 0, 1), False, now),
        "shadow_busy": (IDLE, True, now),
        "lagging": (IDLE, False, arrived + 60.5),
    }
    for reason, (load, busy, at) in cases.items():
        assert policy.skip_reason(load, busy, arrived, at) == reason
        assert reason in SKIP_REASONS
    # the clock decides the lag: at exactly max_lag_s the frame is still in time
    assert policy.skip_reason(IDLE, False, arrived, arrived + 60.0) is None
    # the first reason that holds is the one given (cheapest first)
    assert policy.skip_reason(Load(3, 3, 3, 3), True, arrived, arrived + 999) == "files_waiting"
    with pytest.raises(ValueError):
        SparePolicy(max_lag_s=0)


def _frame(serving: ModelPackage, arrived: float) -> tuple[Frame[IngestedFile], AnalysedFrame]:
    size, channels = serving.manifest.input.size, tuple(serving.manifest.input.channels)
    t = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
    rng = np.random.default_rng(0)
    items = {c: ChannelItem("aia", c, t, IngestedFile(
        path=f"/x/{c}.fits", grid_image=rng.random((size, size), dtype=np.float32) * 100),
        arrived_at=arrived) for c in channels}
    frame = Frame("f-1", "aia", t, items, channels, arrived)
    done = AnalysedFrame(frame_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427", feed="aia", t_obs=t,
                         observations=(), missing=(), probabilities={"none": 1.0},
                         predicted_class="none", irradiance=(), backend="onnxruntime-fp32",
                         flags=("replay", "partial_frame"), timings_s={},
                         arrived=(arrived, arrived), model=serving.identity)
    return frame, done


def test_stage_counts_skips_while_busy_and_runs_when_idle(tmp_path: Path) -> None:
    serving = make_random_package(tmp_path / "serving", size=32, seed=1, verify=False)
    make_random_package(tmp_path / "shadow", size=32, seed=2, verify=False,
                        spec={"name": "test-shadow", "version": "2.0.0"})
    settings = InferenceSettings(backend="onnxruntime", warmup_iterations=0)
    metrics = Metrics()
    published: list[ShadowResult] = []

    async def publish(result: ShadowResult) -> bool:
        published.append(result)
        return True

    def value(name: str) -> float:
        return metrics.registry.get_sample_value(name, {"package": "test-shadow:2.0.0"}) or 0.0

    async def main() -> None:
        model = await open_shadow(tmp_path / "shadow", serving, settings, tmp_path / "cache")
        clock = [5_000.0]
        stage = ShadowStage([model], SparePolicy(max_lag_s=30.0), publish, [], metrics,
                            clock=lambda: clock[0])
        try:
            # the series exist from the start, at zero
            assert metrics.registry.get_sample_value(
                "sdo_monitor_shadow_skipped_total", {"package": "test-shadow:2.0.0"}) == 0.0
            frame, done = _frame(serving, 5_000.0)
            stage.offer(frame, done, Load(0, 2, 0, 0))  # behind: frames wait
            stage.offer(frame, done, Load(0, 0, 1, 0))  # behind: inference queued
            assert value("sdo_monitor_shadow_skipped_total") == 2.0
            stage.offer(frame, done, IDLE)  # spare capacity: runs
            stage.offer(frame, done, IDLE)  # the first is still in flight
            assert value("sdo_monitor_shadow_skipped_total") == 3.0
            while stage.in_flight:
                await asyncio.sleep(0.01)
            assert value("sdo_monitor_shadow_frames_total") == 1.0
            clock[0] = 5_031.0  # the same frame, now 31 s after its last file: lagging
            stage.offer(frame, done, IDLE)
            assert value("sdo_monitor_shadow_skipped_total") == 4.0
        finally:
            await stage.close()

        # an outbox that does not reach the broker in time: the shadow waits, then skips
        settled: list[float] = []

        async def never_drains(timeout_s: float) -> bool:
            settled.append(timeout_s)
            return False
        backlog = ShadowStage([model], SparePolicy(), publish, [], metrics, settle=never_drains,
                              clock=lambda: 5_000.0)
        try:
            backlog.offer(frame, done, IDLE)
            while backlog.in_flight:
                await asyncio.sleep(0.01)
            assert settled and value("sdo_monitor_shadow_skipped_total") == 5.0
            assert value("sdo_monitor_shadow_frames_total") == 1.0
            # promoted: the shadow package serves the frame itself, so it does not run again
            promoted = dataclasses.replace(done, model=model.identity)
            backlog.offer(frame, promoted, IDLE)
            assert not backlog.in_flight and value("sdo_monitor_shadow_skipped_total") == 6.0
        finally:
            await backlog.close()
            await model.close()

    asyncio.run(main())
    [result] = published
    assert result.model.label == "test-shadow:2.0.0" and result.champion == serving.identity
    assert result.flags == ("replay",)  # the frame's own flags, never the serving side's
    event = make_event("frame.shadow", shadow_data(result), source="urn:sdo-monitor:test")
    validate_event(event)
    assert abs(sum(result.probabilities.values()) - 1.0) < 1e-5


def test_a_shadow_must_read_the_serving_frames(tmp_path: Path) -> None:
    serving = make_random_package(tmp_path / "a", size=32, seed=1, verify=False)
    bigger = make_random_package(tmp_path / "b", size=64, seed=1, verify=False)
    fewer = make_random_package(tmp_path / "c", size=32, seed=3, verify=False,
                                spec={"channels": [171, 193]})
    assert "grid size 64" in (compatibility_problem(bigger, serving) or "")
    assert compatibility_problem(fewer, serving) is None  # a subset of channels reads fine
    assert "serving package itself" in (compatibility_problem(serving, serving) or "")
    assert "not among" in (compatibility_problem(serving, fewer) or "")


def test_irradiance_difference_is_the_median_relative_gap_over_shared_lines() -> None:
    def lines(**values: float) -> tuple[IrradianceLine, ...]:
        return tuple(IrradianceLine(name, "Fe", 1.0, v) for name, v in values.items())

    serving = lines(a=1.0, b=2.0, c=4.0, d=0.0)
    assert irradiance_difference(lines(a=1.1, b=2.0, c=2.0, d=5.0), serving) == \
        pytest.approx(0.1)  # gaps 0.1, 0, 0.5; d has no reference
    assert irradiance_difference(lines(x=1.0), serving) is None
    assert irradiance_difference(serving, serving) == 0.0


def test_the_shadow_list_is_validated_with_the_yaml_path(tmp_path: Path) -> None:
    from monitor.config import ConfigError, parse_config

    a, b = tmp_path / "a", tmp_path / "b"

    def issues(inference: str) -> dict[str, str]:
        with pytest.raises(ConfigError) as info:
            parse_config(f"inference: {inference}\n")
        return {i.path: i.message for i in info.value.issues}

    found = issues(f"{{model_package: {a}, shadow: [{b}, {b}/., {a}]}}")
    assert "listed twice" in found["inference.shadow[1]"]
    assert "is the serving package" in found["inference.shadow[2]"]
    too_many = ", ".join(str(tmp_path / f"p{i}") for i in range(5))
    assert "at most 4" in issues(f"{{shadow: [{too_many}]}}")["inference.shadow"]
    assert parse_config(f"inference: {{shadow: [{b}]}}\n").inference.shadow == (b,)


def test_check_config_names_a_missing_shadow_directory(tmp_path: Path) -> None:
    from monitor.config import parse_config
    from monitor.preflight import file_problems

    (tmp_path / "here").mkdir()
    (tmp_path / "a-file").write_text("x")
    config = parse_config(f"inference: {{shadow: [{tmp_path / 'here'}, {tmp_path / 'gone'}, "
                          f"{tmp_path / 'a-file'}]}}\n")
    found = {i.path: i.message for i in file_problems(config)}
    assert "inference.shadow[0]" not in found
    assert "does not exist" in found["inference.shadow[1]"]
    assert "is not a directory" in found["inference.shadow[2]"]
