"""Hostile input through the running daemon: every bad file is rejected with its
reason, nothing escapes the spool, good data around it is analysed as usual."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from astropy.io import fits
from support import (
    daemon_config,
    delivery_report,
    frames_in_time_order,
    ledger_frame_ids,
    read_topic,
    record_outcome,
)

from monitor.app import Daemon
from monitor.config import Config


def _run_daemon(config: Config, bootstrap: str, prefix: str, frames: int, rejects: int,
                after_ready=None) -> tuple[list[dict], list[dict]]:  # type: ignore[no-untyped-def]
    """Run the daemon in-process until ``frames`` frame and ``rejects`` reject messages
    (or their timeouts), then stop it; ``after_ready()`` runs once the frames are out."""
    async def main() -> tuple[list[dict], list[dict]]:
        stop = asyncio.Event()
        daemon = Daemon(config, [bootstrap])
        task = asyncio.create_task(daemon.run(stop))
        await daemon.wait_ready(60)
        out = await asyncio.to_thread(read_topic, bootstrap, f"{prefix}.frames", frames, 90)
        if after_ready is not None:
            after_ready()
        bad = await asyncio.to_thread(read_topic, bootstrap, f"{prefix}.rejects", rejects, 90)
        await asyncio.sleep(1)
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
        return out, bad
    return asyncio.run(main())


def test_hostile_inputs_are_rejected_with_reasons(tmp_path: Path, kafka_bootstrap: str,
                                                  untrained_package: Path,
                                                  m_flare_files: Path) -> None:
    good = frames_in_time_order(m_flare_files)[:14]  # two complete frames
    spool, outside = tmp_path / "spool", tmp_path / "outside"
    spool.mkdir()
    outside.mkdir()
    donor = good[0]
    data = donor.read_bytes()
    expected: dict[str, str] = {}

    def put(name: str, content: bytes, reason: str) -> None:
        (spool / name).write_bytes(content)
        expected[name] = reason

    put("aia.truncated_171.fits", data[: len(data) // 3], "truncated")
    put("aia.empty_171.fits", b"", "empty_file")
    put("aia.notfits_171.fits", b"GIF89a" + b"\0" * 4000, "unknown_format")
    # the same observation under a second name (after the original went through)
    twin_name = "copy-of-" + donor.name
    # far-future T_OBS: a broken clock upstream
    future = tmp_path / "future.fits"
    shutil.copy(donor, future)
    with fits.open(future, mode="update") as hdul:
        hdul[1].header["T_OBS"] = "2099-01-01T00:00:00.00Z"
        hdul[1].header["DATE-OBS"] = "2099-01-01T00:00:00.00"
    shutil.copy(future, spool / "aia.future_171.fits")
    expected["aia.future_171.fits"] = "t_obs_in_future"
    # a symlink that points out of the spool is never followed
    (outside / "secret.fits").write_bytes(data)
    os.symlink(outside / "secret.fits", spool / "aia.link_171.fits")
    # a partial write that never completes (temporary name) is never picked up
    (spool / ".aia.partial_171.fits.part").write_bytes(data[:1000])
    for path in good:
        shutil.copy(path, spool / path.name)

    prefix = "rel.inputs"
    config = daemon_config(tmp_path, spool, untrained_package, prefix)

    def while_running() -> None:
        # a file that appears and vanishes before it is stable is simply not there
        ghost = spool / "aia.ghost_171.fits"
        ghost.write_bytes(data)
        ghost.unlink()
        shutil.copy(donor, spool / twin_name)

    frames, rejects = _run_daemon(config, kafka_bootstrap, prefix, 2, len(expected) + 1,
                                  while_running)
    record_outcome("hostile inputs", f"{len(expected)} bad files, a renamed twin, a symlink "
                   "out of the spool, a partial write, a vanishing file",
                   delivery_report(frames, ledger_frame_ids(tmp_path / "state")))
    assert len({e["data"]["frame_id"] for e in frames}) == 2
    by_name = {Path(e["data"]["path"]).name: e["data"]["reason"] for e in rejects}
    for name, reason in expected.items():
        assert by_name.get(name) == reason, (name, by_name)
    assert by_name.get(twin_name) == "duplicate", by_name
    # a file that was read keeps its content hash in the message (and so in its id)
    sha = {Path(e["data"]["path"]).name: e["data"]["sha256"] for e in rejects}
    for name in ("aia.truncated_171.fits", "aia.notfits_171.fits", "aia.future_171.fits"):
        content = (spool / "rejected" / name).read_bytes()
        assert sha[name] == hashlib.sha256(content).hexdigest(), name
    assert "aia.link_171.fits" not in by_name and "secret.fits" not in by_name
    assert (outside / "secret.fits").exists()  # never moved or touched
    assert (spool / ".aia.partial_171.fits.part").exists()
    # rejected files are kept aside for people, not deleted
    assert all((spool / "rejected" / name).exists() for name in expected)


def _corpus_cases() -> list[tuple]:  # type: ignore[type-arg]
    """The malformed-file corpus of tests/ingest (loaded by path: test modules are not a
    package)."""
    path = Path(__file__).resolve().parents[1] / "ingest" / "test_ingest_corpus.py"
    spec = importlib.util.spec_from_file_location("ingest_corpus_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.CASES)


def test_malformed_corpus_through_the_running_daemon(tmp_path: Path, kafka_bootstrap: str,
                                                     untrained_package: Path,
                                                     m_flare_files: Path) -> None:
    """Every case of the ingest corpus, dropped into a live spool beside good frames, comes
    out of the running daemon as a reject message with the corpus' reason code."""
    spool = tmp_path / "spool"
    spool.mkdir()
    expected: dict[str, str] = {}
    for name, builder, reason, settings in _corpus_cases():
        if settings is not None:  # needs non-default ingest settings
            continue
        workdir = tmp_path / "build" / name
        workdir.mkdir(parents=True)
        try:
            built = builder(workdir)
        except pytest.skip.Exception:  # e.g. a sunpy sample file not installed here
            continue
        if built.is_symlink() or not built.is_file():
            continue  # a missing path, a directory, a FIFO: not content a spool can hold
        target = spool / f"corpus-{name}{built.suffix}"
        shutil.copy(built, target)
        expected[target.name] = reason.value
    assert len(expected) >= 30
    for path in frames_in_time_order(m_flare_files)[:14]:  # two good frames around them
        shutil.copy(path, spool / path.name)
    prefix = "rel.corpus"
    config = daemon_config(tmp_path, spool, untrained_package, prefix)
    frames, rejects = _run_daemon(config, kafka_bootstrap, prefix, 2, len(expected))
    by_name = {Path(e["data"]["path"]).name: e["data"]["reason"] for e in rejects}
    wrong = {n: (r, by_name.get(n)) for n, r in expected.items() if by_name.get(n) != r}
    record_outcome("malformed-file corpus", f"{len(expected)} corpus files (one defect each) "
                   f"among 2 good frames; {len(expected) - len(wrong)} rejected with their "
                   "reason", delivery_report(frames, ledger_frame_ids(tmp_path / "state")))
    assert wrong == {}, wrong
    assert len({e["data"]["frame_id"] for e in frames}) == 2  # good data analysed as usual
    assert all((spool / "rejected" / name).exists() for name in expected)
    assert all(e["data"]["detail"] for e in rejects)  # each with a human message
