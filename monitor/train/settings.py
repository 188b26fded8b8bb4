"""Training configuration (``sdo-monitor train --config FILE``), stdlib only.

One YAML document describes a whole training run: where the data come from
(the synthetic Sun, SDOML v2/v1 as published with GOES files for the labels,
or a directory of frames already on the model grid), the network shape and input scaling, the optimiser, class
balancing, augmentation, early stopping, evaluation and where the package goes.
``monitor.typedyaml`` validates it, so every error names its YAML path
(``training.lr: must be > 0``). ``config/train-default.yaml`` is the exact
configuration of the shipped default package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "AugmentSettings",
    "EvaluationSettings",
    "FrameDirSourceSettings",
    "ModelSettings",
    "SyntheticSourceSettings",
    "TimeBlockSplit",
    "TrainConfig",
    "TrainingSettings",
]

_AIA_EUV = (94, 131, 171, 193, 211, 304, 335)
_SPLIT_PATTERN = ("train", "train", "train", "train", "train", "train", "train", "val", "test",
                  "test")
_SDOML_V2 = "s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/"


def _pattern_problems(pattern: tuple[str, ...]) -> list[tuple[str, str]]:
    problems = []
    unknown = sorted(set(pattern) - {"train", "val", "test"})
    if unknown:
        problems.append(("pattern", f"unknown split names {unknown} (train, val, test)"))
    for name in ("train", "val", "test"):
        if name not in pattern:
            problems.append(("pattern", f"needs at least one {name!r} block"))
    return problems



@dataclass(frozen=True)
class SyntheticSourceSettings:
    """Samples drawn from the synthetic Sun's dataset API (``monitor.synth``).

    Every split has its own seed: a sample is a pure function of (seed, index),
    so disjoint seeds mean disjoint Suns. The test seeds must never be used in
    training (checked).
    """

    kind: Literal["synthetic"] = field(default="synthetic", metadata={"doc": "data source"})
    train_seed: int = field(default=101, metadata={"ge": 0, "doc": "seed of the training split"})
    train_samples: int = field(default=6000, metadata={"ge": 8, "doc": "training samples"})
    val_seed: int = field(default=202, metadata={"ge": 0, "doc": "seed of the validation split "
                                                                 "(early stopping)"})
    val_samples: int = field(default=400, metadata={"ge": 4, "doc": "validation samples"})
    test_seed: int = field(default=303, metadata={"ge": 0, "doc": "seed of the held-out test "
                                                                  "split (evaluation report)"})
    test_samples: int = field(default=800, metadata={"ge": 4, "doc": "test samples"})
    file_test_seed: int = field(
        default=404, metadata={"ge": 0, "doc": "seed of the file-path test: observations "
                                               "written as level-1 FITS and read back "
                                               "through ingest and preprocessing"})
    file_test_samples: int = field(
        default=48, metadata={"ge": 0, "doc": "file-path test observations (0 = skip)"})
    file_train_samples: int = field(
        default=0, metadata={"ge": 0, "doc": "extra training samples seen through the file "
                                             "path: training Suns (train_seed) written as "
                                             "file_size px FITS and read back like the daemon "
                                             "does (saturation, rounding, resampling)"})
    file_size: int = field(default=1024, metadata={"choices": (512, 1024, 2048, 4096),
                                                   "doc": "pixel size of those FITS files"})
    class_mix: tuple[float, ...] = field(
        default=(0.4, 0.25, 0.2, 0.15),
        metadata={"doc": "probabilities of drawing none, C, M, X: the synthetic data are "
                         "balanced at the source (real flares are rare)"})
    max_regions: int = field(default=6, metadata={"ge": 0, "le": 20,
                                                   "doc": "most active regions per Sun"})
    noise: bool = field(default=True, metadata={"doc": "photon and read noise"})
    world: str = field(
        default="v2", metadata={"choices": ("v1", "v2"),
                                "doc": "calibration of the synthetic Sun's physics "
                                       "(monitor.synth.worlds): v2 is measured against real "
                                       "EVE, AIA and SDOML data (docs/reality.md); v1 is the "
                                       "world of the shipped default model"})

    def check(self) -> list[tuple[str, str]]:
        """Seeds disjoint, class mix valid."""
        problems = []
        seeds = {"train_seed": self.train_seed, "val_seed": self.val_seed,
                 "test_seed": self.test_seed, "file_test_seed": self.file_test_seed}
        for name, value in seeds.items():
            if name != "train_seed" and value == self.train_seed:
                problems.append((name, ("must differ from train_seed (held-out data must "
                                       "never be drawn from training seeds)")))
        if len(self.class_mix) != 4 or min(self.class_mix) < 0 or sum(self.class_mix) <= 0:
            problems.append(("class_mix", "needs four non-negative weights (none, C, M, X)"))
        return problems


@dataclass(frozen=True)
class TimeBlockSplit:
    """How real frames are split by time: contiguous blocks go to train, validation and
    test in a repeating ``pattern``, and frames within ``gap_hours`` of another split's
    frame are dropped (neighbouring frames are nearly the same Sun)."""

    block_days: float = field(default=7.0, metadata={"gt": 0, "doc": "length of one time "
                                                                     "block"})
    gap_hours: float = field(default=12.0, metadata={"ge": 0, "doc": "frames this close to a "
                                                                     "frame of another split "
                                                                     "are dropped"})
    pattern: tuple[str, ...] = field(
        default=_SPLIT_PATTERN,
        metadata={"doc": "split of consecutive blocks, repeated (train/val/test)"})
    max_frames: int = field(default=0, metadata={"ge": 0, "doc": "use at most this many "
                                                                 "frames (0 = all)"})

    def check(self) -> list[tuple[str, str]]:
        """Every split appears in the pattern, nothing else does."""
        return _pattern_problems(self.pattern)


@dataclass(frozen=True)
class FrameDirSourceSettings(TimeBlockSplit):
    """A directory of AIA frames already on the model grid, with a label table
    (docs/training.md), split by time blocks with guard gaps."""

    kind: Literal["frames"] = field(default="frames", metadata={"doc": "data source"})
    root: Path = field(default=Path("frames"), metadata={"doc": "directory with labels.csv "
                                                               "and the frame files"})
    labels: str = field(default="labels.csv", metadata={"doc": "label table inside root"})


@dataclass(frozen=True)
class SdomlSourceSettings(TimeBlockSplit):
    """SDOML as published (docs/training.md): AIA and EVE stores, GOES files for the classes.

    Channels are joined on regular slots of ``cadence_minutes`` within
    ``channel_tolerance_minutes``, EVE within ``eve_tolerance_minutes``; the
    aligned frames are split by time blocks with guard gaps.
    """

    kind: Literal["sdoml"] = field(default="sdoml", metadata={"doc": "data source"})
    format: Literal["v2", "v1"] = field(
        default="v2", metadata={"doc": "v2: Zarr stores (aia, eve are store roots, local or "
                                       "s3:// gs://); v1: npz tree (aia = root with YYYY/AIA/, "
                                       "eve = folder with irradiance.npy and jd.npy)"})
    aia: str = field(default=_SDOML_V2 + "sdomlv2.zarr",
                     metadata={"doc": "AIA store (v2) or v1 root"})
    eve: str = field(default=_SDOML_V2 + "sdomlv2_eve.zarr",
                     metadata={"doc": "EVE store (v2) or v1 EVE folder"})
    goes: tuple[str, ...] = field(
        default=(), metadata={"doc": "GOES XRS files or directories of them (NCEI netCDF, "
                                     "SDAC FITS, SWPC JSON): the class labels"})
    hek: str = field(default="", metadata={"doc": "HEK-style flare CSV for flare positions "
                                                  "(pointing game); empty = none"})
    years: tuple[int, ...] = field(default=(), metadata={"doc": "year groups to read "
                                                                "(empty = all)"})
    anonymous: bool = field(default=True, metadata={"doc": "read s3:// and gs:// stores "
                                                           "without credentials"})
    cadence_minutes: float = field(default=12.0, metadata={"gt": 0, "doc": "slot spacing of "
                                                                           "the aligned frames"})
    channel_tolerance_minutes: float = field(
        default=3.0, metadata={"gt": 0, "doc": "a channel's frame may be this far from its "
                                               "slot"})
    eve_tolerance_minutes: float = field(
        default=1.0, metadata={"gt": 0, "doc": "an EVE value may be this far from the slot "
                                               "(per line; values <= 0 are missing)"})

    def check(self) -> list[tuple[str, str]]:
        """Labels given, tolerances below half a slot, a valid split pattern."""
        problems = super().check()
        if not self.goes:
            problems.append(("goes", ("needs at least one GOES file or directory (the "
                                      "class labels)")))
        if self.channel_tolerance_minutes > self.cadence_minutes / 2:
            problems.append(("channel_tolerance_minutes",
                             "must be at most half of cadence_minutes"))
        return problems


@dataclass(frozen=True)
class ModelSettings:
    """The package to produce: identity, input grid and scaling, network shape."""

    name: str = field(default="sdo-flare-eve", metadata={"doc": "package name"})
    version: str = field(default="0.1.0", metadata={"doc": "package version"})
    description: str = field(default="", metadata={"doc": "one line for humans"})
    size: int = field(default=256, metadata={"choices": (64, 128, 256, 512),
                                             "doc": "model grid size (px)"})
    channels: tuple[int, ...] = field(default=_AIA_EUV, metadata={"doc": "AIA wavelengths"})
    input_offset: float = field(
        default=1.0, metadata={"gt": 0, "doc": "DN/s added before log10 (input scaling "
                                               "x = (log10(img + offset) - mean) / std, mean "
                                               "and std from the training split)"})
    widths: tuple[int, ...] = field(default=(16, 32, 64, 128), metadata={"doc": "stage widths"})
    blocks: tuple[int, ...] = field(default=(1, 1, 2, 1), metadata={"doc": "blocks per stage"})
    stem_stride: int = field(default=2, metadata={"ge": 1, "le": 4, "doc": "stem stride"})
    stage_strides: tuple[int, ...] = field(default=(2, 2, 2, 1),
                                           metadata={"doc": "first-block stride per stage"})

    def check(self) -> list[tuple[str, str]]:
        """Shapes agree; the feature stride divides the grid."""
        problems = []
        if not self.channels or len(set(self.channels)) != len(self.channels):
            problems.append(("channels", "must be non-empty and without duplicates"))
        if not self.widths or len(self.widths) != len(self.blocks):
            problems.append(("blocks", "needs one entry per width"))
        if len(self.stage_strides) != len(self.widths):
            problems.append(("stage_strides", "needs one entry per width"))
        if any(w < 1 for w in self.widths) or any(b < 1 for b in self.blocks):
            problems.append(("widths", "widths and blocks must be >= 1"))
        stride = self.stem_stride
        for s in self.stage_strides:
            stride *= max(int(s), 1)
        if stride < 1 or self.size % stride:
            problems.append(("stage_strides", (f"feature stride {stride} must divide size "
                                              f"{self.size}")))
        return problems


@dataclass(frozen=True)
class TrainingSettings:
    """Optimiser, losses, class balancing, early stopping and the time budget."""

    epochs: int = field(default=30, metadata={"ge": 1, "doc": "most epochs"})
    batch_size: int = field(default=32, metadata={"ge": 1, "doc": "samples per step (all "
                                                                  "processes together)"})
    lr: float = field(default=2e-3, metadata={"gt": 0, "doc": "peak learning rate (AdamW, "
                                                              "one-cycle cosine)"})
    weight_decay: float = field(default=1e-4, metadata={"ge": 0, "doc": "AdamW weight decay"})
    warmup_epochs: float = field(default=1.0, metadata={"ge": 0, "doc": "linear warm-up"})
    class_loss_weight: float = field(default=1.0, metadata={"ge": 0, "doc": "weight of the "
                                                                            "cross-entropy"})
    irradiance_loss_weight: float = field(default=1.0, metadata={"ge": 0, "doc": "weight of "
                                                                               "the EVE loss"})
    irradiance_scale_dex: float = field(
        default=0.01, metadata={"gt": 0, "doc": "EVE errors are measured in units of this "
                                                "many dex (0.01 dex = 2.3 %), Huber beyond 1"})
    saliency_loss_weight: float = field(
        default=0.3, metadata={"ge": 0, "doc": "weight of the localisation term: the true "
                                               "class's CAM of a flare frame is pulled onto the "
                                               "flare's loop-top kernel (0 = off)"})
    class_weighting: Literal["none", "sqrt", "balanced"] = field(
        default="sqrt", metadata={"doc": "cross-entropy class weights from training counts: "
                                         "none, 1/sqrt(count) or 1/count"})
    sampler: Literal["natural", "balanced"] = field(
        default="natural", metadata={"doc": "balanced = draw each class equally often per "
                                            "epoch (weighted sampling with replacement)"})
    refit_irradiance_head: bool = field(
        default=True, metadata={"doc": "after training, refit the CNN's irradiance head in "
                                       "closed form (Huber IRLS) on the pooled features of "
                                       "the training split"})
    ema_decay: float = field(
        default=0.99, metadata={"ge": 0, "lt": 1, "doc": "exponential moving average of the "
                                                         "weights per step, validated and kept "
                                                         "(0 = off: the last iterate)"})
    patience: int = field(default=6, metadata={"ge": 1, "doc": "early stopping: epochs "
                                                               "without validation gain"})
    min_delta: float = field(default=1e-3, metadata={"ge": 0, "doc": "smallest gain that "
                                                                     "counts"})
    max_minutes: float = field(
        default=0.0, metadata={"ge": 0, "doc": "wall-time budget for the epochs (0 = none): "
                                               "the cosine schedule then also runs on time, "
                                               "reaching zero at the budget; the best epoch "
                                               "is kept"})
    threads: int = field(default=0, metadata={"ge": 0, "doc": "torch threads per process "
                                                              "(0 = cores / processes)"})
    device: str = field(default="cpu", metadata={"doc": "cpu, cuda or cuda:N"})
    progress: bool = field(default=True, metadata={"doc": "progress bar on stderr"})


@dataclass(frozen=True)
class AugmentSettings:
    """Augmentation that keeps solar geometry (north stays up; no flips)."""

    enabled: bool = field(default=True, metadata={"doc": "augment training batches"})
    probability: float = field(default=0.5, metadata={"ge": 0, "le": 1,
                                                      "doc": "share of samples augmented"})
    rotation_deg: float = field(
        default=2.0, metadata={"ge": 0, "le": 10, "doc": "largest roll about the disk centre "
                                                         "(residual CROTA2/P-angle errors)"})
    brightness_sigma: float = field(
        default=0.03, metadata={"ge": 0, "le": 0.2, "doc": "per-channel lognormal gain "
                                                           "(degradation-correction residuals); "
                                                           "labels do not move, so keep it below "
                                                           "the wanted irradiance accuracy"})
    noise_exposure_min: float = field(
        default=0.2, metadata={"gt": 0, "le": 1, "doc": "extra photon noise as if the exposure "
                                                        "were cut to a random fraction down to "
                                                        "this (AEC during flares)"})


@dataclass(frozen=True)
class EvaluationSettings:
    """Held-out evaluation: pointing game and calibration."""

    pointing_tolerance_px: float = field(
        default=16.0, metadata={"ge": 0, "doc": "saliency peak may miss a kernel by its 3-sigma "
                                                "extent plus this (grid px; 16 = one CAM cell)"})
    reliability_bins: int = field(default=10, metadata={"ge": 2, "le": 50,
                                                        "doc": "bins of the reliability curve"})
    batch_size: int = field(default=32, metadata={"ge": 1, "doc": "evaluation batch"})


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run (the YAML document of ``sdo-monitor train``)."""

    seed: int = field(default=0, metadata={"ge": 0, "doc": "seed of weights, order and "
                                                           "augmentation"})
    out_dir: Path = field(default=Path("runs/train"), metadata={
        "doc": "run directory: checkpoint, curves, report, cache and package/"})
    package_dir: Path | None = field(default=None, metadata={
        "doc": "where the package goes (default out_dir/package)"})
    cache_dir: Path | None = field(default=None, metadata={
        "doc": "sample cache (default out_dir/cache); reused when the data settings match"})
    workers: int = field(default=0, metadata={"ge": 0, "doc": "processes drawing samples "
                                                              "(0 = cores)"})
    data: SyntheticSourceSettings | SdomlSourceSettings | FrameDirSourceSettings = field(
        default_factory=SyntheticSourceSettings, metadata={"doc": "data source"})
    model: ModelSettings = field(default_factory=ModelSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    augment: AugmentSettings = field(default_factory=AugmentSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)

    @property
    def package_path(self) -> Path:
        """Where the package is written."""
        return self.package_dir if self.package_dir is not None else self.out_dir / "package"

    @property
    def cache_path(self) -> Path:
        """Where samples are cached."""
        return self.cache_dir if self.cache_dir is not None else self.out_dir / "cache"
