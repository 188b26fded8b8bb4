"""``sdo-monitor export`` and the fp16 ONNX variant TensorRT builds from."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import save_file

from monitor.models.command import add_subparser
from monitor.models.network import build_network
from monitor.models.onnx_export import (
    OnnxExporterUnavailableError,
    export_onnx,
    fuse_batchnorm,
    half_precision_module,
)
from monitor.models.package import load_package
from monitor.models.spec import CHECKPOINT_SPEC_KEY, manifest_from_spec
from monitor.models.testing import SMALL_NETWORK, perturb, small_config


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_subparser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def _spec(tmp_path: Path) -> Path:
    spec = {"name": "unit", "version": "1.2.3", "size": 64, "network": SMALL_NETWORK,
            "channels": [171, 193, 211],
            "scaling": {"193": {"transform": "sqrt", "offset": 0.0, "clip_min": 0.0,
                                "clip_max": None, "mean": 10.0, "std": 5.0}},
            "training": {"data": "unit test"}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_export_from_checkpoint_and_spec(tmp_path: Path) -> None:
    manifest = manifest_from_spec(json.loads(_spec(tmp_path).read_text()))
    model = perturb(build_network(manifest.network, seed=5), seed=5)
    ckpt = tmp_path / "ckpt.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
    out = tmp_path / "pkg"
    assert _run(["export", "--weights", str(ckpt), "--spec", str(_spec(tmp_path)),
                 "--out", str(out)]) == 0
    package = load_package(out)
    assert package.manifest.name == "unit" and package.manifest.input.channels == (171, 193, 211)
    assert package.manifest.input.scaling_for(193).transform == "sqrt"
    assert package.manifest.input.scaling_for(171).transform == "log10"  # default filled in
    x = package.probe_input(1)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x))[0].numpy()
        got = package.build_torch_model()(torch.from_numpy(x))[0].numpy()
    np.testing.assert_array_equal(got, expected)
    # a second export to the same place needs --force
    assert _run(["export", "--weights", str(ckpt), "--spec", str(_spec(tmp_path)),
                 "--out", str(out)]) == 1


def test_export_reads_spec_from_checkpoint_metadata(tmp_path: Path) -> None:
    spec = json.loads(_spec(tmp_path).read_text())
    manifest = manifest_from_spec(spec)
    model = build_network(manifest.network, seed=1)
    ckpt = tmp_path / "ckpt.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt),
              metadata={CHECKPOINT_SPEC_KEY: json.dumps(spec)})
    assert _run(["export", "--weights", str(ckpt), "--out", str(tmp_path / "p")]) == 0
    assert load_package(tmp_path / "p").manifest.version == "1.2.3"


def test_export_rejects_checkpoint_of_another_shape(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    other = build_network(small_config(widths=(4, 8)), seed=0)
    ckpt = tmp_path / "ckpt.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(ckpt))
    code = _run(["export", "--weights", str(ckpt), "--spec", str(_spec(tmp_path)),
                 "--out", str(tmp_path / "p")])
    assert code == 1
    err = capsys.readouterr().err
    assert "do not fit" in err and "ckpt.safetensors" in err
    assert not (tmp_path / "p").exists()


def test_spec_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="colour"):
        manifest_from_spec({"colour": "red"})
    with pytest.raises(ValueError, match="scaling"):
        manifest_from_spec({"channels": [171], "scaling": {"94": {}}})


def test_fused_and_fp16_variants_match_fp32(tmp_path: Path) -> None:
    model = perturb(build_network(small_config(), seed=9), seed=9)
    x = torch.randn(2, 7, 64, 64)
    with torch.inference_mode():
        ref = [t.numpy() for t in model(x)]
        fused = [t.numpy() for t in fuse_batchnorm(model)(x)]
    for a, b in zip(fused, ref):
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max()
    path = tmp_path / "half.onnx"
    export_onnx(half_precision_module(model), path, in_channels=7, size=64)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.type for i in session.get_inputs()] == ["tensor(float)"]
    got = session.run(None, {"image": x.numpy()})
    # fp16 tolerance: 1e-2 relative to each output's largest magnitude
    for a, b in zip(got, ref):
        assert a.dtype == np.float32
        assert np.abs(a - b).max() <= 1e-2 * np.abs(b).max()


def test_a_torch_without_the_torchscript_exporter_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fake of a future torch (cannot be installed here): its export() refuses dynamo=False.
    calls: list[dict[str, object]] = []

    def export_without_torchscript(*args: object, **kwargs: object) -> None:
        calls.append(kwargs)
        raise TypeError("export() got an unexpected keyword argument 'dynamo'")

    monkeypatch.setattr(torch.onnx, "export", export_without_torchscript)
    model = build_network(small_config(), seed=1)
    with pytest.raises(OnnxExporterUnavailableError, match=r"torch .* no TorchScript"):
        export_onnx(model, tmp_path / "m.onnx", in_channels=7, size=64)
    assert len(calls) == 1 and calls[0]["dynamo"] is False  # no second, dynamo attempt
    assert not (tmp_path / "m.onnx").exists()


def test_export_refuses_a_pickle_checkpoint(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"w": torch.zeros(1)}, ckpt)
    assert _run(["export", "--weights", str(ckpt), "--out", str(tmp_path / "p")]) == 1
    assert "unreadable safetensors" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
