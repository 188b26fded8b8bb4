"""Subcommands that drive the whole daemon (``run``, ``demo``, ``check-config``).

Area-specific subcommands live with their area (``monitor/<area>/command.py``).
"""

__all__: list[str] = []
