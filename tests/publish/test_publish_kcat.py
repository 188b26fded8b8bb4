"""The demo's topics read by an independent, non-Python Kafka client: Debian's kcat.

kcat 1.7 (librdkafka 2.0) cannot parse the bundled broker's ApiVersions v3 reply; the
local broker that ``run`` and ``demo`` start sits behind an
:class:`~monitor.publish.kafka_compat.ApiVersionsRelay` that drops the reply's tagged
fields. Here the real ``sdo-monitor demo`` runs and kcat lists and reads its topics.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.publish.kafka_compat import strip_api_versions_tags
from monitor.publish.local_broker import free_port

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
EXE = Path(sys.executable).with_name("sdo-monitor")
needs_kcat = pytest.mark.skipif(KCAT is None, reason="kcat is not installed (Debian package "
                                                      "kcat; `make system-deps` installs it)")


def _api_versions_v3(tags: bytes) -> bytes:
    entries = b"".join(struct.pack(">hhh", key, 0, v) + b"\x00" for key, v in ((0, 9), (18, 3)))
    return b"\x00\x00" + bytes([3]) + entries + struct.pack(">i", 0) + tags


def test_only_the_tagged_fields_of_the_reply_are_dropped() -> None:
    # Tansu's tail: SupportedFeatures [], FinalizedFeaturesEpoch -1, FinalizedFeatures [],
    # ZkMigrationReady false
    tail = bytes.fromhex("04" "000101" "0108ffffffffffffffff" "020101" "030100")
    assert strip_api_versions_tags(_api_versions_v3(tail)) == _api_versions_v3(b"\x00")
    plain = _api_versions_v3(b"\x00")
    assert strip_api_versions_tags(plain) == plain
    assert strip_api_versions_tags(b"\x00\x00\x7f") == b"\x00\x00\x7f"  # truncated: untouched


def _kcat(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KCAT), *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


@needs_kcat
def test_kcat_lists_and_reads_the_demo_topics(tmp_path: Path, untrained_package: Path) -> None:
    port = free_port()
    config = tmp_path / "demo.yaml"
    config.write_text(f"inference: {{model_package: {untrained_package}}}\n"
                      f"http: {{port: 0}}\nkafka: {{local: {{port: {port}}}}}\n")
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen([str(EXE), "demo", "-c", str(config), "--scenario", "m_flare",
                                 "--size", "512", "--speed", "600", "--duration", "240"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    broker = f"127.0.0.1:{port}"
    try:
        frames: list[dict] = []
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline and len(frames) < 2:
            assert demo.poll() is None, log.read_text()[-3000:]
            read = _kcat("-b", broker, "-C", "-t", "sdo.frames", "-o", "beginning", "-e",
                         "-q", "-f", "%s\n")
            frames = [json.loads(line) for line in read.stdout.splitlines() if line.strip()]
            time.sleep(2)
        listing = _kcat("-b", broker, "-L")
    finally:
        demo.terminate()
        demo.wait(timeout=60)
    assert len(frames) >= 2, log.read_text()[-3000:]
    assert all(f["type"] == "org.sdo-monitor.frame.analyzed.v1" for f in frames)
    assert all(f["data"]["inputs"] for f in frames)
    assert "Read underflow" not in listing.stderr
    for topic in ("sdo.frames", "sdo.saliency", "sdo.alerts", "sdo.rejects"):
        assert f'topic "{topic}"' in listing.stdout, listing.stdout


def test_the_relay_starts_and_stops_cleanly_under_a_real_client(
        caplog: pytest.LogCaptureFixture) -> None:
    import threading

    from kafka import KafkaAdminClient

    from monitor.publish.local_broker import LocalBroker

    errors: list[BaseException] = []
    threading.excepthook = lambda args: errors.append(args.exc_value)  # type: ignore[assignment]
    try:
        with LocalBroker(relay=True) as broker:
            admin = KafkaAdminClient(bootstrap_servers=[broker.bootstrap])
            assert isinstance(admin.list_topics(), list)
            admin.close()
    finally:
        threading.excepthook = threading.__excepthook__  # type: ignore[attr-defined]
    assert errors == []
