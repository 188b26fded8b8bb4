"""Real local services and writers the tests (and a developer) run against; not installed.

``swpc_server`` serves SWPC-style GOES X-ray JSON on loopback with fault
injection; ``jsoc_server`` serves a JSOC-like AIA synoptic NRT tree on
loopback (``PYTHONPATH=tests python -m fakes.jsoc_server --root DIR`` runs a
live fake feed); ``synoptic_fits`` writes small level-1.5-like FITS files;
``harness`` runs a source and collects what it emits.
"""

__all__: list[str] = []
