"""SDOML, the machine-learning data set of SDO (Galvez et al. 2019), as published.

* :mod:`~monitor.sdoml.store` -- Zarr v2 stores, local or ``s3://``/``gs://``;
* :mod:`~monitor.sdoml.values` -- the attribute lists (``'nan'`` strings, times);
* :mod:`~monitor.sdoml.aia` -- per-channel ``T_OBS`` index, frame geometry, the
  frame onto the model grid through the daemon's resampling;
* :mod:`~monitor.sdoml.align` -- channels joined on regular slots within a tolerance;
* :mod:`~monitor.sdoml.eve` -- EVE MEGS-A lines (v2 Zarr, v2a, v1 npy);
* :mod:`~monitor.sdoml.v1` -- SDOML v1 npz frames (2 x 2 sums: a factor 4);
* :mod:`~monitor.sdoml.labels` -- GOES XRS-B labels and HEK flare positions.

``docs/training.md`` describes the layouts and how to train on them; SDOML-lite
(WebDataset shards of square-root-scaled images) is not read, for the reasons
given there.
"""

from monitor.sdoml.aia import AIA_CHANNELS, ChannelIndex, read_channel_index, sdoml_geometry
from monitor.sdoml.align import Alignment, join_channels
from monitor.sdoml.eve import MODEL_KEYS, EveLines, read_eve, read_eve_v1
from monitor.sdoml.store import Store, StoreError, ZArray, open_store

__all__ = [
    "AIA_CHANNELS",
    "MODEL_KEYS",
    "Alignment",
    "ChannelIndex",
    "EveLines",
    "Store",
    "StoreError",
    "ZArray",
    "join_channels",
    "open_store",
    "read_channel_index",
    "read_eve",
    "read_eve_v1",
    "sdoml_geometry",
]
