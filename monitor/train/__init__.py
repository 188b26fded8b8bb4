"""Training, evaluation and packaging of the flare-class / virtual-EVE network.

* :mod:`~monitor.train.settings` -- the YAML config (stdlib dataclasses);
* :mod:`~monitor.train.sources`, :mod:`~monitor.train.sdoml`,
  :mod:`~monitor.train.framedir`, :mod:`~monitor.train.twin` -- samples from
  the synthetic Sun, from SDOML as published (readers in :mod:`monitor.sdoml`),
  from a directory of gridded frames, and the synthetic Sun seen through FITS
  files;
* :mod:`~monitor.train.data` -- the on-disk sample cache;
* :mod:`~monitor.train.splits` -- time-block splits and class balancing;
* :mod:`~monitor.train.augment` -- geometry-preserving augmentation;
* :mod:`~monitor.train.trainer` -- linear model, CNN, early stopping, DDP, built
  from :mod:`~monitor.train.epochs` (one epoch's optimiser steps, the weight
  average), :mod:`~monitor.train.schedule` (time budget, learning rate, early
  stopping), :mod:`~monitor.train.validation` (validation scores),
  :mod:`~monitor.train.batches` (network inputs and the loss),
  :mod:`~monitor.train.heads` (closed-form linear parts),
  :mod:`~monitor.train.localize` (the saliency localisation term),
  :mod:`~monitor.train.distributed` (torchrun);
* :mod:`~monitor.train.metrics`, :mod:`~monitor.train.evaluate`,
  :mod:`~monitor.train.filecheck` -- TSS/HSS, calibration, irradiance errors,
  the saliency pointing game, and the daemon-path check on files;
* :mod:`~monitor.train.report` -- PNGs, markdown report, model card;
  :mod:`~monitor.train.figure` -- the docs figure (saliency vs true flare position);
* :mod:`~monitor.train.pipeline` -- the whole run, with
  :mod:`~monitor.train.loading` (the splits of each ``data.kind``) and
  :mod:`~monitor.train.documents` (report, PNGs and ``metrics.json``);
  :mod:`~monitor.train.command` -- ``sdo-monitor train``.

Heavy modules (torch, the synthetic Sun) are imported by the submodules, not here.
"""

from monitor.train.settings import TrainConfig

__all__ = ["TrainConfig"]
