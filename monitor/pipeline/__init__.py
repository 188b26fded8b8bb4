"""The daemon's pipeline: the stages one file passes, and who owns what on the way.

In the order a file meets them:

- :mod:`~monitor.pipeline.intake`: sources -> the arrivals queue; acknowledges
  every file's outcome back to its source.
- :mod:`~monitor.pipeline.ingest_stage`: arrival -> ingested file, decoded by
  :mod:`~monitor.pipeline.pool_work` in the worker pool; the ledger and the
  files in flight are :mod:`~monitor.pipeline.filebook`'s.
- :mod:`~monitor.pipeline.assembly`: ingested files -> frames -> the frames
  queue, where the overload policy acts.
- :mod:`~monitor.pipeline.analysis_stage`: frame -> analysed frame
  (:mod:`~monitor.pipeline.analysis`: model and saliency, on the serving
  package the frame leased from :mod:`~monitor.pipeline.serving`, which
  :mod:`~monitor.pipeline.switch` replaces without a gap), alert rules in
  observation order (:mod:`~monitor.pipeline.turns`).
- :mod:`~monitor.pipeline.publishing`: analysed frame -> messages
  (:mod:`~monitor.pipeline.messages`) -> the outbox.
- :mod:`~monitor.pipeline.outcomes`: where every file ends, and retries
  (:mod:`~monitor.pipeline.retries`).

The typed values handed between stages are in :mod:`~monitor.pipeline.handoffs`;
:mod:`~monitor.pipeline.runner` runs the stages' tasks,
:mod:`~monitor.pipeline.status` is the read-only snapshot the view, the probes
and the gauges read, :mod:`~monitor.pipeline.view` is what the HTTP API sees.
At start the daemon opens the models with :mod:`~monitor.pipeline.lineup` and
the worker pool with :mod:`~monitor.pipeline.ingest_pool`;
:mod:`~monitor.pipeline.gauges` turns the pipeline's events into metric values
and :mod:`~monitor.pipeline.watchdog` reports its health to systemd.
"""

__all__: list[str] = []
