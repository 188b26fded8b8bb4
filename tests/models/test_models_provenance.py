"""Provenance in model.json: validated on load, declared through the package's own path."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pytest
import yaml

from monitor.models.declare import declare_provenance
from monitor.models.errors import PackageHashMismatchError
from monitor.models.layout import MANIFEST, ONNX, default_package_path
from monitor.models.manifest import ManifestError
from monitor.models.package import ModelPackage, load_package
from monitor.models.provenance import UNDECLARED, Provenance
from monitor.models.spec import manifest_from_spec

REAL = {"data": "real", "source": "SDOML v2 with GOES XRS labels", "start": "2011-01-01",
        "end": "2014-05-26"}


def test_a_declared_provenance_round_trips_through_model_json() -> None:
    manifest = manifest_from_spec({"provenance": REAL})
    assert manifest.provenance == Provenance("real", REAL["source"], date(2011, 1, 1),
                                             date(2014, 5, 26))
    back = type(manifest).from_dict(json.loads(json.dumps(manifest.to_dict())))
    assert back.provenance == manifest.provenance
    assert not back.provenance.synthetic_only


@pytest.mark.parametrize(("change", "key"), [
    ({"data": "simulated"}, "provenance.data"),
    ({"start": None}, "provenance.start"),              # real data needs its dates
    ({"end": "2010-12-31"}, "provenance.end"),          # before start
    ({"start": "2011-13-01"}, "provenance.start"),      # not a date
    ({"start": 20110101}, "provenance.start"),
    ({"source": "  "}, "provenance.source"),
    ({"licence": "cc-by"}, "provenance.licence"),       # unknown keys are refused
])
def test_a_bad_provenance_is_refused_naming_the_key(change: dict, key: str) -> None:
    with pytest.raises(ManifestError) as caught:
        Provenance.from_dict({**REAL, **change})
    assert caught.value.key == key


def test_synthetic_data_needs_no_dates() -> None:
    provenance = Provenance.from_dict({"data": "synthetic", "source": "monitor.synth world v2",
                                       "start": None, "end": None})
    assert provenance.synthetic_only and provenance.declared


def test_yaml_dates_in_an_export_spec_become_iso_text() -> None:
    spec = yaml.safe_load("provenance: {data: mixed, source: SDOML + synth, "
                          "start: 2011-01-01, end: 2012-01-01}")
    manifest = manifest_from_spec(spec)
    assert manifest.to_dict()["provenance"]["start"] == "2011-01-01"


def test_a_package_without_provenance_is_read_as_synthetic_only_with_a_warning(
        small_package: ModelPackage, caplog: pytest.LogCaptureFixture) -> None:
    assert small_package.manifest.provenance is None
    with caplog.at_level(logging.WARNING, logger="monitor.models.package"):
        package = load_package(small_package.path, verify=False)
    assert package.provenance is UNDECLARED and package.provenance.synthetic_only
    assert not package.provenance.declared
    assert "declares no provenance" in caplog.text
    identity = package.identity.to_dict()
    assert identity["sha256"] == package.sha256
    assert identity["provenance"]["data"] == "synthetic"


def test_declaring_provenance_rewrites_only_model_json(package_copy: Path) -> None:
    before = load_package(package_copy)
    onnx = (package_copy / ONNX).read_bytes()
    after = declare_provenance(package_copy, Provenance.from_dict(REAL))
    assert after.verified and after.provenance.data == "real"
    assert after.sha256 != before.sha256  # the package says something new
    assert (package_copy / ONNX).read_bytes() == onnx
    assert after.manifest.files == before.manifest.files
    assert json.loads((package_copy / MANIFEST).read_text())["provenance"] == REAL


def test_a_broken_package_is_not_relabelled(package_copy: Path) -> None:
    data = bytearray((package_copy / ONNX).read_bytes())
    data[-1] ^= 0xFF
    (package_copy / ONNX).write_bytes(bytes(data))
    manifest = (package_copy / MANIFEST).read_bytes()
    with pytest.raises(PackageHashMismatchError):
        declare_provenance(package_copy, Provenance.from_dict(REAL))
    assert (package_copy / MANIFEST).read_bytes() == manifest


def test_the_default_package_declares_synthetic_training_data() -> None:
    package = load_package(default_package_path(), verify=False)
    assert package.manifest.provenance is not None  # declared, not the undeclared reading
    assert package.provenance.synthetic_only
    assert "synthetic Sun" in package.provenance.source


def test_the_provenance_command_relabels_or_says_why_not(
        package_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.cli import main

    before = (package_copy / MANIFEST).read_bytes()
    assert main(["provenance", str(package_copy), "--data", "real", "--source", "SDOML v2",
                 "--start", "2011-01-01"]) == 1  # real data needs its end date too
    assert "provenance.start" in capsys.readouterr().err
    assert (package_copy / MANIFEST).read_bytes() == before
    assert main(["provenance", str(package_copy), "--data", "mixed", "--source", ("SDOML v2 "
                 "and synthetic Suns"), "--start", "2011-01-01", "--end", "2012-12-31"]) == 0
    assert "mixed: SDOML v2 and synthetic Suns 2011-01-01..2012-12-31" in capsys.readouterr().out
    assert load_package(package_copy).provenance.data == "mixed"
