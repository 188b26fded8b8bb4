"""Helpers for exercising sources against real local services (tests, demo, benchmarks).

``jsoc_server`` serves a JSOC-like AIA synoptic NRT tree on loopback,
``synoptic_fits`` writes small level-1.5-like FITS files, ``harness`` runs a
source and collects what it emits.
"""

__all__: list[str] = []
