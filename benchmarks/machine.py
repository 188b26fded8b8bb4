"""What every benchmark records about the machine it ran on (not a library module).

Shared by the scripts in this directory so their JSON files describe the
machine the same way: host, CPU model, usable cores, memory, Python, the
versions of the packages that matter to the measurement, the load average.
"""

from __future__ import annotations

import os
import platform
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["cpu_model", "machine_info"]


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(*packages: str) -> dict[str, Any]:
    """The machine, plus the installed version of each distribution in ``packages``."""
    info: dict[str, Any] = {
        "host": socket.gethostname(), "cpu": cpu_model(),
        "cores_available": len(os.sched_getaffinity(0)),
        "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1e9, 1),
        "python": platform.python_version(), "platform": platform.platform(),
        "load_average_start": os.getloadavg()}
    for name in packages:
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[name] = None
    return info
