"""Model switches on real (small) packages: the watch, the champion's leases, refusals."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from monitor.inference import InferenceSettings
from monitor.inference.settings import CpuSettings
from monitor.models import ModelPackage, load_package
from monitor.models.layout import ONNX
from monitor.models.testing import make_random_package
from monitor.observe.metrics import Metrics
from monitor.pipeline.serving import Champion, ServingModel, open_serving
from monitor.pipeline.switch import SWITCH_REASONS, ModelSwitcher, PackageWatch
from monitor.saliency import SaliencySettings

SETTINGS = InferenceSettings(backend="onnxruntime", max_batch=2, warmup_iterations=0,
                             cpu=CpuSettings(threads=1))


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two 64 px packages (A, B), one on another grid, one with a flipped byte in its ONNX."""
    root = tmp_path_factory.mktemp("models")
    out = {name: make_random_package(root / name, size=size, seed=seed).path
           for name, size, seed in (("a", 64, 1), ("b", 64, 2), ("grid32", 32, 3))}
    broken = root / "broken"
    shutil.copytree(out["b"], broken)
    data = bytearray((broken / ONNX).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (broken / ONNX).write_bytes(bytes(data))
    out["broken"] = broken
    return out


def _link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` in one step (as ``promote`` does)."""
    temp = link.with_name(f".{link.name}.tmp")
    temp.unlink(missing_ok=True)
    temp.symlink_to(target)
    os.replace(temp, link)


async def _open(package: ModelPackage) -> ServingModel:
    return await open_serving(package, SETTINGS, SaliencySettings(enabled=False), Path("/tmp"),
                              observers=(), more_coming=lambda: False, finish_build=True)


def test_the_watch_sees_each_new_target_once(tmp_path: Path, packages: dict[str, Path]) -> None:
    link = tmp_path / "current"
    _link(link, packages["a"])
    watch = PackageWatch(link)
    assert watch.target() == packages["a"].resolve() and not watch.changed()
    _link(link, packages["b"])
    assert watch.changed() and not watch.changed()
    _link(link, packages["b"])  # the same target again is no change
    assert not watch.changed()


def test_frames_keep_the_model_they_leased_and_the_old_one_closes_after_them(
        packages: dict[str, Path]) -> None:
    async def main() -> None:
        a = await _open(load_package(packages["a"]))
        b = await _open(load_package(packages["b"]))
        champion = Champion(a)
        x = load_package(packages["a"]).probe_input(1)[0]
        with champion.lease() as first:
            replacing = asyncio.create_task(champion.replace(b))
            await asyncio.sleep(0.05)
            assert champion.current() is b  # the next frame gets B at once
            assert not replacing.done()     # A waits for the frame that holds it
            out = await first.analyzer.batcher.submit(x)  # A still serves its frame
            assert out.logits.shape == (1, 4)
            with champion.lease() as second:
                assert second is b
        assert await asyncio.wait_for(replacing, 10) is a
        assert not a.analyzer.batcher.ready  # closed once its frame ended
        await champion.close()
        assert not b.analyzer.batcher.ready

    asyncio.run(main())


def test_switches_succeed_refuse_with_reasons_and_keep_serving(
        tmp_path: Path, packages: dict[str, Path]) -> None:
    link = tmp_path / "current"
    _link(link, packages["a"])
    metrics = Metrics()
    switched: list[str] = []

    def count(result: str) -> float:
        return metrics.registry.get_sample_value("sdo_monitor_model_switches_total",
                                                 {"result": result}) or 0.0

    def refusals(reason: str) -> float:
        return metrics.registry.get_sample_value("sdo_monitor_model_switch_refusals_total",
                                                 {"reason": reason}) or 0.0

    async def main() -> None:
        champion = Champion(await _open(load_package(link)))
        switcher = ModelSwitcher(champion=champion, path=link, verify=True, open_model=_open,
                                 requests=asyncio.Event(), watch_s=0, metrics=metrics,
                                 on_switched=lambda m: switched.append(m.sha256))
        b_sha = load_package(packages["b"]).sha256
        _link(link, packages["b"])
        outcome = await switcher.switch()
        assert outcome.result == "switched" and champion.identity.sha256 == b_sha
        assert switched == [b_sha] and switcher.problem() is None

        _link(link, packages["broken"])
        outcome = await switcher.switch()
        assert (outcome.result, outcome.reason) == ("refused", "hash_mismatch")
        assert champion.identity.sha256 == b_sha  # B keeps serving
        problem = switcher.problem()
        assert problem is not None and "hash_mismatch" in problem and "still serving" in problem

        _link(link, packages["grid32"])
        outcome = await switcher.switch()
        assert (outcome.result, outcome.reason) == ("refused", "input_mismatch")
        assert "grid 32 px" in outcome.detail

        _link(link, tmp_path / "nowhere")
        assert (await switcher.switch()).reason == "package_missing"

        _link(link, packages["b"])  # back to the serving package: the refusal is over
        assert (await switcher.switch()).result == "unchanged"
        assert switcher.problem() is None and switched == [b_sha]
        await champion.close()

    asyncio.run(main())
    assert (count("switched"), count("refused"), count("unchanged")) == (1, 3, 1)
    assert (refusals("hash_mismatch"), refusals("input_mismatch"),
            refusals("package_missing")) == (1, 1, 1)
    assert set(SWITCH_REASONS) >= {"hash_mismatch", "input_mismatch", "package_missing"}


@pytest.mark.parametrize("trigger", ["sighup", "watch"])
def test_a_request_or_a_new_link_target_starts_a_switch(
        tmp_path: Path, packages: dict[str, Path], trigger: str) -> None:
    link = tmp_path / "current"
    _link(link, packages["a"])
    b_sha = load_package(packages["b"]).sha256

    async def main() -> str:
        champion = Champion(await _open(load_package(link)))
        requests = asyncio.Event()
        switcher = ModelSwitcher(champion=champion, path=link, verify=True, open_model=_open,
                                 requests=requests,
                                 watch_s=0.05 if trigger == "watch" else 0, metrics=Metrics(),
                                 on_switched=lambda m: None)
        task = asyncio.create_task(switcher.run())
        _link(link, packages["b"])
        if trigger == "sighup":
            await asyncio.sleep(0.3)
            assert champion.identity.sha256 != b_sha  # no watch: nothing happens by itself
            requests.set()
        for _ in range(200):
            if champion.identity.sha256 == b_sha:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await champion.close()
        return champion.identity.sha256

    assert asyncio.run(main()) == b_sha
