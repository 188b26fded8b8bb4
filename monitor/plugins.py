"""Implementations found by name: how sources and inference backends are plugged in.

A plugin is a class that names itself when it is defined (``class
SpoolSource(SourceBase, kind="spool")``, ``class TorchCPUBackend(BackendBase,
name="torch_cpu", ...)``); its base class hands it to a :class:`Registry`.
The registry knows its package, and the first time a name is looked up it
imports every module of that package, so a new source or backend is one new
module in ``monitor/sources/`` or ``monitor/inference/`` and nothing else
changes. Each plugin builds itself from its settings (``from_settings``).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Plugin classes of one package, by name.

    Parameters
    ----------
    package : str
        Dotted name of the package whose modules define the plugins.
    what : str
        What a plugin is, for error messages ("feed kind", "inference backend").
    """

    def __init__(self, package: str, what: str) -> None:
        self._package = package
        self._what = what
        self._classes: dict[str, type[T]] = {}
        self._found = False

    def add(self, name: str, cls: type[T]) -> None:
        """Register ``cls`` under ``name`` (called by the plugins' base class)."""
        known = self._classes.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"two {self._what}s named {name!r}: {known.__qualname__} and "
                             f"{cls.__qualname__}")
        self._classes[name] = cls

    def _discover(self) -> None:
        if self._found:
            return
        package = importlib.import_module(self._package)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.ispkg and not module.name.startswith("_"):
                importlib.import_module(f"{self._package}.{module.name}")
        self._found = True

    def get(self, name: str) -> type[T]:
        """The plugin called ``name``; ValueError naming the known ones otherwise."""
        self._discover()
        try:
            return self._classes[name]
        except KeyError:
            raise ValueError(f"no {self._what} {name!r} (known: "
                             f"{', '.join(self.names())})") from None

    def names(self) -> tuple[str, ...]:
        self._discover()
        return tuple(sorted(self._classes))

    def classes(self) -> tuple[type[T], ...]:
        self._discover()
        return tuple(self._classes[name] for name in sorted(self._classes))
