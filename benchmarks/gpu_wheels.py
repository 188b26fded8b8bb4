"""The wheels that travel to the GPU check host: fetch, check the size, verify the install.

The host has Python 3.12 and no network; ``benchmarks/gpu_wheels.txt`` pins
what it lacks. On a machine with PyPI::

    python3 benchmarks/gpu_wheels.py fetch            # -> .gpu-wheels/ (git-ignored)

downloads those exact versions as cp312 manylinux x86_64 wheels, without
resolving dependencies (the list is complete by design: everything else is on
the host), then ``check``: exactly one wheel per pin and nothing else, and the
working tree that travels (tracked and untracked, not ignored, files) plus the
wheels within ``--budget-mib`` (the device tool carries 64 MiB in all; 60 leaves
room for results written into the tree). On the host, ``benchmarks/gpu_check.sh``
installs them with ``pip --no-index --no-deps --target`` and runs ``verify``: each
pinned distribution is installed there at its pinned version.

``--python-version 3.11 --dest .gpu-wheels-311`` fetches the same pins for a
rehearsal under Python 3.11 (only ``rpds-py`` differs: it is built per version).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "benchmarks" / "gpu_wheels.txt"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")
MIB = 1 << 20


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def pins(path: Path = PINS) -> dict[str, str]:
    """``{normalised name: version}`` of the ``name==version`` lines."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep or not version:
                raise SystemExit(f"{path}: {line!r} is not name==version")
            out[_norm(name)] = version.strip()
    return out


def travelling_bytes() -> int:
    """Bytes of the files that travel with the tree: tracked, and untracked not ignored."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    names = {n for n in listed.stdout.decode().split("\0") if n}
    return sum((ROOT / n).stat().st_size for n in names if (ROOT / n).is_file())


def check(dest: Path, budget_mib: float) -> int:
    """One wheel per pin, nothing more, and the size budget; prints the list."""
    want = pins()
    wheels = sorted(dest.glob("*.whl"))
    problems, seen = [], set()
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        if want.get(_norm(name)) != version:
            problems.append(f"{wheel.name}: not pinned in {PINS.name}")
        seen.add(_norm(name))
        print(f"{wheel.stat().st_size / MIB:7.2f} MiB  {wheel.name}")
    problems += [f"{n}=={v}: no wheel" for n, v in want.items() if n not in seen]
    wheel_mib = sum(w.stat().st_size for w in wheels) / MIB
    tree_mib = travelling_bytes() / MIB
    total = wheel_mib + tree_mib
    print(f"wheels {wheel_mib:.1f} MiB + working tree {tree_mib:.1f} MiB = {total:.1f} MiB "
          f"(budget {budget_mib:.0f} MiB)")
    if total > budget_mib:
        problems.append(f"{total:.1f} MiB would travel, over the {budget_mib:.0f} MiB budget")
    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    return 1 if problems else 0


def fetch(dest: Path, python_version: str, budget_mib: float) -> int:
    """Download the pinned wheels into ``dest`` (replaced only when the download worked)."""
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".gpu-wheels-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--python-version", python_version,
               "--implementation", "cp", *[a for p in PLATFORMS for a in ("--platform", p)],
               "-d", tmp, "-r", str(PINS)]
        subprocess.run(cmd, check=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(tmp, dest)
    return check(dest, budget_mib)


def verify(site: Path) -> int:
    """Every pin installed in ``site`` at its version (run on the host after the install)."""
    found = {_norm(d.metadata["Name"]): d.version
             for d in metadata.distributions(path=[str(site)])}
    bad = [f"{n}: pinned {v}, installed {found.get(n, 'nothing')}"
           for n, v in pins().items() if found.get(n) != v]
    print("installed from the carried wheels: "
          + ", ".join(f"{n} {v}" for n, v in sorted(found.items())))
    for line in bad:
        print(f"PROBLEM: {line}", file=sys.stderr)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download the pinned wheels, then check")
    f.add_argument("--python-version", default="3.12")
    c = sub.add_parser("check", help="one wheel per pin, and the size budget")
    for p in (f, c):
        p.add_argument("--dest", type=Path, default=ROOT / ".gpu-wheels")
        p.add_argument("--budget-mib", type=float, default=60.0)
    v = sub.add_parser("verify", help="the pins are what is installed in SITE")
    v.add_argument("site", type=Path)
    args = parser.parse_args(argv)
    if args.command == "fetch":
        return fetch(args.dest.resolve(), args.python_version, args.budget_mib)
    if args.command == "check":
        return check(args.dest, args.budget_mib)
    return verify(args.site)


if __name__ == "__main__":
    raise SystemExit(main())
