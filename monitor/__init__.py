"""sdo-monitor: near-real-time monitoring of SDO/AIA image feeds.

See ``DESIGN.md`` in the docs for the data flow and contracts.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
