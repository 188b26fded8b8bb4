"""The daemon's pipeline pieces that sit between the areas.

- :mod:`monitor.pipeline.ingest_stage`: file -> observation + grid image (worker pool).
- :mod:`monitor.pipeline.messages`: results -> CloudEvents payloads.
- :mod:`monitor.pipeline.analysis`: a frame through the model, saliency and alerts.
"""

__all__: list[str] = []
