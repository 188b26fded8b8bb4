"""Typed errors of model-package loading, each naming the file at fault.

The daemon refuses to start on any of them (a tampered or half-copied package
must never serve forecasts), and the message is what an operator reads in the
journal, so it says which file, what was expected and what was found.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "PackageError",
    "PackageFileMissingError",
    "PackageFormatError",
    "PackageHashMismatchError",
    "PackageParityError",
]


class PackageError(Exception):
    """Base class: a model package cannot be used.

    Parameters
    ----------
    path : pathlib.Path
        The file (or package directory) at fault.
    message : str
        What is wrong.
    """

    def __init__(self, path: Path, message: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {message}")


class PackageFileMissingError(PackageError):
    """A file the manifest lists (or ``model.json`` itself) does not exist."""


class PackageHashMismatchError(PackageError):
    """A file's sha256 (or size) differs from ``model.json``: tampered or truncated."""

    def __init__(self, path: Path, expected: str, actual: str, detail: str = "") -> None:
        self.expected = expected
        self.actual = actual
        extra = f" ({detail})" if detail else ""
        super().__init__(
            path, f"sha256 mismatch{extra}: model.json says {expected}, file has {actual}"
        )


class PackageFormatError(PackageError):
    """A file is unreadable or does not follow the package contract."""


class PackageParityError(PackageError):
    """ONNX and torch outputs disagree on the probe input beyond tolerance."""
