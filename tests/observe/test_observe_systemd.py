"""systemd/sdo-monitor.service: the directives the daemon relies on, and systemd's own checks.

``systemd-analyze verify`` needs the ExecStart binary to exist, so it runs on a
copy of the unit whose ExecStart points at this virtualenv's ``sdo-monitor``
(the installed unit uses /opt/sdo-monitor/bin/sdo-monitor).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import EXIT_CONFIG
from monitor.config import ServiceSettings
from monitor.observe.settings import HttpSettings

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "sdo-monitor.service"
SYSUSERS = ROOT / "systemd" / "sdo-monitor.sysusers.conf"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None,
                                   reason="systemd-analyze not installed (no systemd here)")
INSTALLED_EXEC = "/opt/sdo-monitor/bin/sdo-monitor"


def directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every directive, repeated keys kept."""
    section, out = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def one(items: list[tuple[str, str, str]], section: str, key: str) -> str:
    values = [v for s, k, v in items if s == section and k == key]
    assert len(values) == 1, f"[{section}] {key}: {values}"
    return values[0]


def seconds(value: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(min|ms|s|h)?", value):
        total += float(number) * {"": 1, "s": 1, "ms": 1e-3, "min": 60, "h": 3600}[unit]
    return total


def test_unit_has_what_the_daemon_relies_on() -> None:
    d = directives(UNIT.read_text())
    s = "Service"
    assert one(d, s, "Type") == "notify"
    assert one(d, s, "ExecStart") == f"{INSTALLED_EXEC} run -c /etc/sdo-monitor/config.yaml"
    # systemctl reload = SIGHUP = switch to the configured model package without a restart
    assert one(d, s, "ExecReload") == "/bin/kill -HUP $MAINPID"
    # the daemon pings every 5 s; the interval must leave room for two missed pings
    assert seconds(one(d, s, "WatchdogSec")) >= 15
    assert one(d, s, "Restart") == "on-failure"
    assert int(one(d, "Unit", "StartLimitBurst")) >= 1
    assert seconds(one(d, "Unit", "StartLimitIntervalSec")) > 0
    assert str(EXIT_CONFIG) in one(d, s, "RestartPreventExitStatus").split()
    # the drain budget applies twice: in-flight work, then the Kafka flush
    assert seconds(one(d, s, "TimeoutStopSec")) > 2 * ServiceSettings().drain_timeout_s
    assert seconds(one(d, s, "TimeoutStartSec")) >= 120
    assert one(d, s, "User") == "sdo-monitor" or one(d, s, "DynamicUser") == "yes"
    service = ServiceSettings()
    assert Path("/var/lib") / one(d, s, "StateDirectory") == service.state_dir
    assert Path("/var/cache") / one(d, s, "CacheDirectory") == service.cache_dir
    assert one(d, s, "ConfigurationDirectory") == "sdo-monitor"
    assert any(k in ("EnvironmentFile", "LoadCredential") for _, k, _ in d)


def test_unit_is_hardened_without_hiding_the_gpu() -> None:
    d = directives(UNIT.read_text())
    s = "Service"
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                       ("DevicePolicy", "closed"), ("RestrictNamespaces", "yes")]:
        assert one(d, s, key) == value, key
    families = one(d, s, "RestrictAddressFamilies").split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families) and "AF_PACKET" not in families
    assert next(v for _, k, v in d if k == "SystemCallFilter") == "@system-service"
    # PrivateDevices=yes would hide /dev/nvidia*: the device cgroup allows them instead
    assert not [v for _, k, v in d if k == "PrivateDevices" and v in ("yes", "true", "1")]
    allowed = [v.split()[0] for _, k, v in d if k == "DeviceAllow"]
    assert {"/dev/nvidiactl", "/dev/nvidia-uvm", "char-nvidia", "char-nvidia-uvm"} <= set(allowed)
    # ProcSubset=pid would hide /proc/driver/nvidia; MemoryDenyWriteExecute breaks CUDA JIT
    assert not [k for _, k, _ in d if k in ("ProcSubset", "MemoryDenyWriteExecute")]
    # every hardening decision is explained: no directive without a comment nearby
    lines = UNIT.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("DeviceAllow=/dev/nvidiactl", "ProtectSystem=", "SystemCallFilter=@",
                            "RestrictAddressFamilies=", "RestartPreventExitStatus=",
                            "TimeoutStopSec=", "WatchdogSec=", "User=")):
            block = lines[max(0, i - 8):i]
            assert any(b.startswith("#") for b in block), f"no comment says why: {line}"


def test_sysusers_creates_the_service_user() -> None:
    entries = [line.split() for line in SYSUSERS.read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert entries[0][:2] == ["u", "sdo-monitor"]
    unit_user = one(directives(UNIT.read_text()), "Service", "User")
    assert entries[0][1] == unit_user


def _local_copy(tmp_path: Path, text: str | None = None) -> Path:
    exe = Path(sys.executable).parent / "sdo-monitor"
    assert exe.is_file(), "the package is not installed in this environment"
    unit = tmp_path / "sdo-monitor.service"
    unit.write_text((text or UNIT.read_text()).replace(INSTALLED_EXEC, str(exe)))
    return unit


def _verify(unit: Path) -> tuple[int, list[str]]:
    run = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, check=False, text=True,
                         timeout=60)
    # only complaints about our unit count (the host's own units may warn too)
    ours = [line for line in (run.stdout + run.stderr).splitlines() if unit.name in line]
    return run.returncode, ours


@needs_analyze
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    returncode, complaints = _verify(_local_copy(tmp_path))
    assert returncode == 0 and not complaints, complaints


@needs_analyze
def test_systemd_analyze_verify_would_catch_a_mistake(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("Restart=on-failure", "Restart=sometimes")
    _, complaints = _verify(_local_copy(tmp_path, broken))
    assert complaints and "restart" in complaints[0].lower()


@needs_analyze
def test_systemd_exposure_score_is_low(tmp_path: Path) -> None:
    unit = _local_copy(tmp_path)
    run = subprocess.run([ANALYZE, "security", "--offline=yes", "--threshold=25", str(unit)],
                         capture_output=True, check=False, text=True, timeout=60)
    if "--offline" in run.stderr and "unrecognized" in run.stderr:
        pytest.skip("systemd-analyze security --offline needs systemd >= 250")
    # exposure 0-10 (shown), threshold on the 0-100 scale: 25 = "2.5 OK"
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", run.stdout)
    assert match and float(match.group(1)) <= 2.5


def test_default_http_binding_is_loopback() -> None:
    assert HttpSettings().host == "127.0.0.1"


def _bytes(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", value).groups()  # type: ignore[union-attr]
    return float(number) * 1024 ** " KMGT".index(unit or " ")


def test_memory_and_tasks_are_bounded_from_the_measured_soak() -> None:
    import json

    d = directives(UNIT.read_text())
    soak = json.loads((ROOT / "benchmarks" / "results" / "soak_vm_10000.json").read_text())
    peak = soak["result"]["peak_rss_mb"] * 1e6
    high, hard = _bytes(one(d, "Service", "MemoryHigh")), _bytes(one(d, "Service", "MemoryMax"))
    # room above the measured peak (bigger files, more workers), and throttling before the kill
    assert 2 * peak <= high < hard <= 4 * peak, (peak, high, hard)
    assert 256 <= int(one(d, "Service", "TasksMax")) <= 4096
