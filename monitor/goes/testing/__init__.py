"""Helpers for exercising the GOES feed against a real local service (tests, demo).

``swpc_server`` serves SWPC-style GOES X-ray JSON on loopback with fault injection.
"""

__all__: list[str] = []
