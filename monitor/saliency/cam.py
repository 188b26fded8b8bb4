"""Class-activation maps from the forward pass of any backend (pure numpy).

The math
--------
The network's heads are global-average pool + linear. With feature maps
``A_k(i, j)`` (``k = 1..F`` over ``Z = h*w`` positions) a head output is::

    y_c = b_c + sum_k W_ck * (1/Z) sum_ij A_k(i, j) = b_c + mean_ij M_c(i, j),
    M_c(i, j) = sum_k W_ck A_k(i, j)

so ``M_c`` says how much each position adds to ``y_c``; the class-activation
map is ``CAM_c = ReLU(M_c)`` (Zhou et al. 2016). Grad-CAM (Selvaraju et al.
2017) weights each feature map by its spatially averaged gradient,
``alpha_ck = (1/Z) sum_ij dy_c/dA_k(i, j) = W_ck / Z``, hence::

    GradCAM_c = ReLU(sum_k alpha_ck A_k) = CAM_c / Z

The two agree exactly up to the constant ``Z``; after normalisation to the
peak they are identical (``tests/saliency/test_saliency_gradcam.py`` shows
it against the torch autograd reference in :mod:`monitor.saliency.gradcam`).

Because the CAM needs only the ``features`` output and the head weights named
in ``model.json``, saliency works for every backend (TensorRT, ONNX Runtime,
torch) at the cost of one small matrix product.

Irradiance: the same holds for the CNN *residual* head of each EVE line.
The Szenicer linear model on per-channel image mean/std (``stats_head``) adds
a term that depends on the whole image at once: it has no spatial map, and a
line's CAM explains only the residual the CNN adds to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from monitor.models.package import ModelPackage

__all__ = [
    "HeadWeights",
    "Target",
    "TargetKind",
    "class_activation_maps",
    "select_targets",
    "upsample_bilinear",
]

TargetKind = Literal["class", "irradiance"]


@dataclass(frozen=True)
class Target:
    """One output to explain.

    Parameters
    ----------
    kind : {"class", "irradiance"}
        Class head (logits) or irradiance residual head.
    index : int
        Row of the head's weight matrix (class index or line index).
    name : str
        Class name or line name (e.g. ``"M"``, ``"Fe XVIII 9.39 nm"``).
    score : float or None
        What is explained: class probability, or line irradiance in W m^-2.
    """

    kind: TargetKind
    index: int
    name: str
    score: float | None = None


@dataclass(frozen=True, eq=False)
class HeadWeights:
    """The linear heads on the pooled features, with output names.

    Parameters
    ----------
    class_weight : numpy.ndarray
        ``(K, F)`` class-head weights.
    irradiance_weight : numpy.ndarray
        ``(L, F)`` irradiance residual-head weights.
    class_names : tuple of str
        ``K`` class names in logit order.
    line_names : tuple of str
        ``L`` line names in output order.
    line_wavelengths_nm : tuple of float
        ``L`` line wavelengths, to select lines by wavelength.
    class_bias, irradiance_bias : numpy.ndarray
        Biases (kept for completeness: they shift outputs, never the maps).
    """

    class_weight: np.ndarray
    irradiance_weight: np.ndarray
    class_names: tuple[str, ...]
    line_names: tuple[str, ...]
    line_wavelengths_nm: tuple[float, ...]
    class_bias: np.ndarray | None = field(default=None, repr=False)
    irradiance_bias: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        cw = np.asarray(self.class_weight, dtype=np.float32)
        iw = np.asarray(self.irradiance_weight, dtype=np.float32)
        if cw.ndim != 2 or iw.ndim != 2 or cw.shape[1] != iw.shape[1]:
            raise ValueError(f"head weights must be (K, F) and (L, F); got {cw.shape}, {iw.shape}")
        if len(self.class_names) != cw.shape[0]:
            raise ValueError("class_names must have one entry per class-head row")
        if not (len(self.line_names) == len(self.line_wavelengths_nm) == iw.shape[0]):
            raise ValueError("line names/wavelengths must have one entry per irradiance row")
        object.__setattr__(self, "class_weight", cw)
        object.__setattr__(self, "irradiance_weight", iw)

    @property
    def feature_channels(self) -> int:
        """``F``, the number of feature maps the heads read."""
        return int(self.class_weight.shape[1])

    def weights_for(self, targets: list[Target] | tuple[Target, ...]) -> np.ndarray:
        """``(T, F)`` weight rows of the given targets, in order."""
        rows = [self.class_weight[t.index] if t.kind == "class" else
                self.irradiance_weight[t.index] for t in targets]
        return np.stack(rows) if rows else np.zeros((0, self.feature_channels), np.float32)

    def line_index(self, wavelength_nm: float, tol_nm: float = 0.01) -> int:
        """Index of the line at ``wavelength_nm`` (within ``tol_nm``); KeyError if none."""
        for i, w in enumerate(self.line_wavelengths_nm):
            if abs(w - wavelength_nm) <= tol_nm:
                return i
        raise KeyError(f"no irradiance line at {wavelength_nm} nm "
                       f"(have {', '.join(f'{w:g}' for w in self.line_wavelengths_nm)})")

    @classmethod
    def from_package(cls, package: ModelPackage) -> HeadWeights:
        """Read the CAM tensors named in ``model.json`` from ``weights.safetensors``."""
        tensors = package.head_weights()
        lines = package.manifest.lines
        return cls(class_weight=tensors["class_weight"],
                   irradiance_weight=tensors["irradiance_weight"],
                   class_names=tuple(package.manifest.classes.classes),
                   line_names=tuple(line.name for line in lines),
                   line_wavelengths_nm=tuple(float(line.wavelength_nm) for line in lines),
                   class_bias=tensors["class_bias"],
                   irradiance_bias=tensors["irradiance_bias"])


def class_activation_maps(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """CAMs ``ReLU(sum_k W_tk A_k)`` at feature resolution.

    Parameters
    ----------
    features : numpy.ndarray
        ``(F, h, w)`` feature maps of one frame, or ``(B, F, h, w)``.
    weights : numpy.ndarray
        ``(T, F)`` head rows, one per target.

    Returns
    -------
    numpy.ndarray
        ``(T, h, w)`` float32 (``(B, T, h, w)`` for batched input), in head-output
        units per feature position (their mean over positions, before the ReLU,
        is the output minus its bias).
    """
    feats = np.asarray(features, dtype=np.float32)
    w = np.asarray(weights, dtype=np.float32)
    if feats.ndim not in (3, 4) or feats.shape[-3] != w.shape[-1]:
        raise ValueError(f"features {feats.shape} do not match weights {w.shape}")
    # One GEMM: (T, F) @ (F, h*w); einsum would not use BLAS here.
    flat = feats.reshape(*feats.shape[:-2], -1)
    maps = np.matmul(w, flat).reshape(*feats.shape[:-3], w.shape[0], *feats.shape[-2:])
    return np.maximum(maps, 0.0, out=maps)


@lru_cache(maxsize=16)
def _interp_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` linear interpolation with half-pixel centres, edges clamped."""
    # Output pixel o covers input coordinate (o + 0.5) * n_in / n_out - 0.5: the
    # centre of feature pixel i is the centre of the s input pixels it summarises.
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0.0, n_in - 1.0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    m = np.zeros((n_out, n_in), dtype=np.float32)
    m[np.arange(n_out), lo] += (1.0 - frac).astype(np.float32)
    m[np.arange(n_out), hi] += frac.astype(np.float32)
    m.setflags(write=False)
    return m


def upsample_bilinear(maps: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of ``(..., h, w)`` maps to ``(..., size, size)``.

    Pixel centres are aligned (``align_corners=False`` in torch terms, the
    convention of ``cv2.resize``) and edges are clamped, so a map stays
    non-negative and keeps its registration to the model grid.
    """
    arr = np.asarray(maps, dtype=np.float32)
    my = _interp_matrix(arr.shape[-2], size)
    mx = _interp_matrix(arr.shape[-1], size)
    return np.matmul(np.matmul(my, arr), mx.T)


def select_targets(heads: HeadWeights, logits: np.ndarray, *,
                   explain_predicted_class: bool = True,
                   extra_classes: tuple[str, ...] = (),
                   irradiance_lines_nm: tuple[float, ...] = (),
                   irradiance_w_m2: np.ndarray | None = None) -> list[Target]:
    """The targets to explain for one frame, each once, classes first.

    Parameters
    ----------
    heads : HeadWeights
        Names of the outputs.
    logits : numpy.ndarray
        ``(K,)`` class logits of the frame.
    explain_predicted_class : bool
        Include the arg-max class.
    extra_classes : tuple of str
        Class names always included.
    irradiance_lines_nm : tuple of float
        Line wavelengths to include.
    irradiance_w_m2 : numpy.ndarray, optional
        ``(L,)`` line irradiances; become the scores of line targets.
    """
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if z.shape[0] != len(heads.class_names):
        raise ValueError(f"{z.shape[0]} logits for {len(heads.class_names)} classes")
    prob = np.exp(z - z.max())
    prob /= prob.sum()
    chosen: list[int] = []
    if explain_predicted_class:
        chosen.append(int(np.argmax(z)))
    for name in extra_classes:
        if name not in heads.class_names:
            raise KeyError(f"unknown class {name!r} (have {', '.join(heads.class_names)})")
        idx = heads.class_names.index(name)
        if idx not in chosen:
            chosen.append(idx)
    targets = [Target("class", i, heads.class_names[i], float(prob[i])) for i in chosen]
    seen: set[int] = set()
    for wavelength in irradiance_lines_nm:
        idx = heads.line_index(wavelength)
        if idx in seen:
            continue
        seen.add(idx)
        score = None if irradiance_w_m2 is None else float(np.asarray(irradiance_w_m2)[idx])
        targets.append(Target("irradiance", idx, heads.line_names[idx], score))
    return targets
