"""What a run trains on, for each ``data.kind``: the splits, and how they are described.

Every question the run asks about its data goes through here, so the three
sources (``synthetic``: :mod:`~monitor.train.sources`; ``sdoml``:
:mod:`~monitor.train.sdoml`; ``frames``: :mod:`~monitor.train.framedir`)
are told apart in one module:

* :func:`load_splits` -- draw the splits into the cache (local rank 0; the
  other processes wait at a barrier) and open them;
* :func:`dry_run` -- sample counts and time span, without drawing;
* :func:`data_summary` -- ``metrics.json``'s ``data`` (what the report says
  the model was trained on);
* :func:`training_provenance` -- ``model.json``'s ``provenance``.

Each source's module is imported only when its kind is asked for: the
synthetic Sun and the SDOML readers are heavy.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import numpy as np

from monitor.train.data import Split, SplitBuilder, cached_split, concat_splits
from monitor.train.distributed import DistContext
from monitor.train.progress import progress
from monitor.train.settings import (
    FrameDirSourceSettings,
    SdomlSourceSettings,
    SyntheticSourceSettings,
    TrainConfig,
)

__all__ = ["data_summary", "dry_run", "load_splits", "training_provenance"]


def _builders(config: TrainConfig) -> dict[str, SplitBuilder]:
    """The split builders of ``config.data``, by split name."""
    if isinstance(config.data, SyntheticSourceSettings):
        from monitor.train.sources import synthetic_builders, twin_builder

        builders = synthetic_builders(config)
        source = config.data
        if source.file_train_samples:
            # The twin of training sample i is the same Sun seen through files.
            builders["train-files"] = twin_builder(config, "train-files", source.train_seed,
                                                   source.file_train_samples, source.file_size)
        return builders
    if isinstance(config.data, SdomlSourceSettings):
        from monitor.train.sdoml import sdoml_builders

        return sdoml_builders(config)
    from monitor.train.framedir import framedir_builders

    return framedir_builders(config)


def load_splits(config: TrainConfig, ctx: DistContext) -> dict[str, Split]:
    """The run's splits (``train``, ``val``, ``test``), drawn into the cache when needed.

    Local rank 0 draws (with ``config.workers`` processes) while the others
    wait; then every process opens the cached splits. File-path twins of
    training Suns, when asked for, join ``train``.
    """
    builders = _builders(config)
    workers = config.workers or os.cpu_count() or 1
    if ctx.local_rank == 0:
        for name, builder in builders.items():
            bar = progress(builder.count, f"drawing {name}",
                           enabled=config.training.progress and ctx.is_main)
            last = [0]

            def tick(done: int, total: int, bar: Any = bar, last: list[int] = last) -> None:
                bar.update(done - last[0])
                last[0] = done

            cached_split(builder, config.cache_path, workers=workers, progress=tick)
            bar.close()
    ctx.barrier()
    splits = {name: cached_split(b, config.cache_path, workers=1) for name, b in builders.items()}
    if "train-files" in splits:
        splits["train"] = concat_splits("train", [splits["train"], splits.pop("train-files")])
    return splits


def dry_run(config: TrainConfig) -> dict[str, Any]:
    """Sample counts per split, channels and time span, without drawing or training."""
    if isinstance(config.data, SdomlSourceSettings):
        from monitor.train.sdoml import dry_run_summary

        return dry_run_summary(config)
    if isinstance(config.data, SyntheticSourceSettings):
        from monitor.train.sources import synthetic_builders

        counts = {k: b.count for k, b in synthetic_builders(config).items()}
        total, first, last = sum(counts.values()), None, None
    else:
        from monitor.train.framedir import framedir_builders, read_labels

        counts = {k: b.count for k, b in framedir_builders(config).items()}
        times = read_labels(config.data.root, config.data.labels).times
        total = int(times.size)
        first, last = (datetime.fromtimestamp(float(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                       for t in (times[0], times[-1]))
    return {"aligned": total, **counts, "channels": list(config.model.channels),
            "first": first, "last": last}


def data_summary(config: TrainConfig, splits: dict[str, Split]) -> dict[str, Any]:
    """``metrics.json``'s ``data``: the source's settings and the split sizes."""
    source = config.data
    summary: dict[str, Any] = {"source": source.kind,
                               **{f"{k}_samples": len(v) for k, v in splits.items()}}
    if isinstance(source, SyntheticSourceSettings):
        # "train" may hold file-path twins of training Suns too: count the Suns once.
        summary.update(train_samples=source.train_samples,
                       file_train_samples=source.file_train_samples,
                       file_size_px=source.file_size, train_seed=source.train_seed, val_seed=source.val_seed,
                       test_seed=source.test_seed, file_test_seed=source.file_test_seed,
                       class_mix=list(source.class_mix), max_regions=source.max_regions,
                       world=source.world,
                       data=f"synthetic Sun (monitor.synth SyntheticDataset, world "
                            f"{source.world}), seeds "
                            f"train {source.train_seed}, val {source.val_seed}, test "
                            f"{source.test_seed}, files {source.file_test_seed}")
    elif isinstance(source, SdomlSourceSettings):
        summary.update(aia=source.aia, eve=source.eve, goes=list(source.goes),
                       format=source.format, cadence_minutes=source.cadence_minutes,
                       block_days=source.block_days, gap_hours=source.gap_hours,
                       pattern=list(source.pattern),
                       data=f"SDOML {source.format} ({source.aia}, {source.eve}) with GOES "
                            "XRS labels, split by time")
    else:
        assert isinstance(source, FrameDirSourceSettings)
        summary.update(root=str(source.root), block_days=source.block_days,
                       gap_hours=source.gap_hours, pattern=list(source.pattern),
                       data=f"frame directory {source.root}, split by time")
    return summary


def training_provenance(config: TrainConfig, splits: dict[str, Split]) -> dict[str, Any]:
    """``model.json``'s ``provenance``: synthetic Suns, or real frames and their date range.

    SDOML is real by definition; a frame directory is read as real too (its
    label table holds real observation times); a package relabelled later
    goes through :func:`monitor.models.declare.declare_provenance`.
    """
    source = config.data
    if isinstance(source, SyntheticSourceSettings):
        return {"data": "synthetic", "source": f"monitor.synth synthetic Sun, world "
                                               f"{source.world}", "start": None, "end": None}
    times = np.concatenate([np.asarray(split.times, dtype=np.float64)
                            for split in splits.values()])
    first, last = (datetime.fromtimestamp(float(t), UTC).date().isoformat()
                   for t in (times.min(), times.max()))
    where = (f"SDOML {source.format} ({source.aia}, {source.eve}) with GOES XRS labels"
             if isinstance(source, SdomlSourceSettings) else f"frame directory {source.root}")
    return {"data": "real", "source": where, "start": first, "end": last}
