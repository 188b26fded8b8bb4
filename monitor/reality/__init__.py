"""How far the synthetic Sun stands from the real one (``sdo-monitor reality``).

* ``real`` -- readers of the real observations (EVE flares, AIA region light
  curves with their GOES days, SDOML v2 statistics), validated, reason codes;
* ``synthetic`` -- the synthetic Sun sampled the way the real data were taken;
* ``measures`` -- the measurements, the same pure functions on both sides;
* ``compare`` -- table rows and their targets;
* ``build`` -- one world's whole comparison; ``package`` -- a model's view of it;
* ``report`` / ``figures`` / ``command`` -- the table, JSON, Markdown, PNGs and CLI.

The real data folder is always an argument: the package never looks for it.
"""
