"""ONNX export of a :class:`~monitor.models.network.SolarResNet`.

One input ``image`` and three outputs ``logits``, ``irradiance``, ``features``,
dynamic in the batch axis only: the spatial size is fixed by the package (the
model grid), which lets TensorRT tune one optimisation profile over batch.

The TorchScript exporter is used on purpose (``dynamo=False``), and only it:
the network is a plain static graph, that path needs no ``onnxscript`` and
gives ``GlobalAveragePool`` and folded batch norms, all of which the TensorRT
ONNX parser supports. Opset 17 is parsed by both TensorRT 10 and 11. There is
deliberately no fallback to the dynamo exporter: it needs ``onnxscript``
(not a dependency of this project) and would produce a different graph that
no test here has checked. A torch without the TorchScript exporter gets
:class:`OnnxExporterUnavailableError` saying so, instead of a silent switch.

:func:`half_precision_module` makes the variant the TensorRT backend builds
for fp16 on TensorRT 11 (where builder precision flags are gone and networks
are strongly typed): the CNN in fp16 with batch norms folded first, the image
statistics and the linear irradiance model kept in fp32, float32 I/O.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from monitor.models.network import BasicBlock, SolarResNet

__all__ = ["DEFAULT_OPSET", "OnnxExporterUnavailableError", "export_onnx", "fuse_batchnorm",
           "half_precision_module"]

DEFAULT_OPSET = 17


class OnnxExporterUnavailableError(RuntimeError):
    """This torch has no TorchScript ONNX exporter (``dynamo=False``)."""


def export_onnx(
    model: nn.Module,
    path: Path,
    *,
    in_channels: int,
    size: int,
    input_name: str = "image",
    output_names: tuple[str, str, str] = ("logits", "irradiance", "features"),
    opset: int = DEFAULT_OPSET,
    device: str | torch.device = "cpu",
) -> None:
    """Write ``model`` as ONNX with a dynamic batch axis.

    Parameters
    ----------
    model : torch.nn.Module
        Returns ``(logits, irradiance, features)``; put in eval mode here.
    path : pathlib.Path
        Output file.
    in_channels, size : int
        Input shape ``(B, in_channels, size, size)``.
    input_name : str
        Name of the ONNX input.
    output_names : tuple of str
        Names of the three outputs in order.
    opset : int
        ONNX opset version.
    device : str or torch.device
        Where to trace (an fp16 module should be traced on a GPU).

    Raises
    ------
    OnnxExporterUnavailableError
        When this torch has no TorchScript exporter (module docstring).
    """
    model = model.eval()
    sample = torch.zeros(2, in_channels, size, size, device=device)
    dynamic = {name: {0: "batch"} for name in (input_name, *output_names)}
    with warnings.catch_warnings():
        # The TorchScript path is deprecated in favour of dynamo; the choice is deliberate.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        try:
            torch.onnx.export(
                model, (sample,), str(path), input_names=[input_name],
                output_names=list(output_names), dynamic_axes=dynamic, opset_version=opset,
                do_constant_folding=True, dynamo=False,
            )
        except TypeError as exc:  # the keyword or the exporter is gone from this torch
            raise OnnxExporterUnavailableError(
                f"torch {torch.__version__} has no TorchScript ONNX exporter (dynamo=False: "
                f"{exc}); sdo-monitor exports only with it (docs/models.md)") from exc


def fuse_batchnorm(model: SolarResNet) -> SolarResNet:
    """Copy of ``model`` with every batch norm folded into its convolution (eval only).

    Parameters
    ----------
    model : SolarResNet
        Source network (left untouched).
    """
    fused = copy.deepcopy(model).eval()
    fused.stem = nn.Sequential(fuse_conv_bn_eval(fused.stem[0], fused.stem[1]), fused.stem[2])
    for module in fused.modules():
        if isinstance(module, BasicBlock):
            module.conv1 = fuse_conv_bn_eval(module.conv1, module.bn1)
            module.bn1 = nn.Identity()  # type: ignore[assignment]
            module.conv2 = fuse_conv_bn_eval(module.conv2, module.bn2)
            module.bn2 = nn.Identity()  # type: ignore[assignment]
            if isinstance(module.shortcut, nn.Sequential):
                module.shortcut = fuse_conv_bn_eval(module.shortcut[0], module.shortcut[1])
    return fused


class _HalfPrecision(nn.Module):
    """fp16/bf16 CNN and heads, fp32 statistics, linear model and I/O."""

    def __init__(self, model: SolarResNet, dtype: torch.dtype) -> None:
        super().__init__()
        fused = fuse_batchnorm(model)
        self.stats = copy.deepcopy(model).float()
        self.cnn = fused.to(dtype)
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        linear = self.stats.linear_irradiance(x)
        features = self.cnn.backbone(x.to(self.dtype))
        logits, residual = self.cnn.heads(features)
        return logits.float(), linear + residual.float(), features.float()


def half_precision_module(model: SolarResNet, dtype: torch.dtype = torch.float16) -> nn.Module:
    """Mixed-precision copy of ``model`` for a strongly typed fp16 (or bf16) engine.

    Parameters
    ----------
    model : SolarResNet
        Source network in fp32 (left untouched).
    dtype : torch.dtype
        ``torch.float16`` or ``torch.bfloat16``.
    """
    if dtype not in (torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be float16 or bfloat16, got {dtype}")
    return _HalfPrecision(model, dtype).eval()
