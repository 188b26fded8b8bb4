"""CloudEvents envelopes, stable ids and the shipped JSON Schemas."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from monitor.publish.envelope import (
    CONTENT_TYPE,
    EVENT_TYPES,
    EventValidationError,
    encode,
    event_type,
    load_schema,
    make_event,
    message_id,
    rfc3339,
    to_outbound,
    validate_event,
)

SOURCE = "urn:sdo-monitor:test-1"
NAMES = ["frame.analyzed", "saliency", "alert", "input.rejected"]


@pytest.mark.parametrize("name", NAMES)
def test_each_example_makes_a_valid_cloudevent(name: str,
                                               example_data: dict[str, dict[str, Any]]) -> None:
    event = make_event(name, example_data[name], source=SOURCE,
                       time=datetime(2024, 5, 10, 12, 0, 30, tzinfo=UTC))
    assert event["specversion"] == "1.0"
    assert event["type"] == f"org.sdo-monitor.{name}.v1"
    assert event["dataschema"] == f"urn:sdo-monitor:schema:{name}.v1"
    assert event["time"] == "2024-05-10T12:00:30.000Z"
    assert event["datacontenttype"] == "application/json"
    assert event["source"] == SOURCE and event["subject"]
    validate_event(event)
    decoded = json.loads(encode(event).decode("utf-8"))
    assert decoded == event
    validate_event(decoded)


def test_encoding_is_compact_utf8_and_refuses_nan(
        example_data: dict[str, dict[str, Any]]) -> None:
    data = example_data["input.rejected"]
    data["detail"] = "Ångström header says 171 Å"
    raw = encode(make_event("input.rejected", data, source=SOURCE))
    assert b", " not in raw and b": " not in raw  # no spaces after separators
    assert "Å".encode() in raw  # UTF-8, not \\u escapes
    frame = example_data["frame.analyzed"]
    frame["irradiance"][0]["value_w_m2"] = math.nan
    with pytest.raises(EventValidationError, match="not valid JSON"):
        encode(make_event("frame.analyzed", frame, source=SOURCE, validate=False))


def test_ids_are_stable_and_follow_the_identity(example_data: dict[str, dict[str, Any]]) -> None:
    frame = example_data["frame.analyzed"]
    first = make_event("frame.analyzed", frame, source=SOURCE, time=0.0)
    later = make_event("org.sdo-monitor.frame.analyzed.v1", copy.deepcopy(frame),
                       source="urn:sdo-monitor:other", time=3600.0)
    assert first["id"] == later["id"]  # time and instance do not change what the result is
    assert first["id"] == message_id(EVENT_TYPES[first["type"]], frame)
    assert first["id"] == "1fa0e9f9-047d-5376-9016-fba51acf2b41"  # fixed forever: consumers rely on it
    frame["class_probabilities"]["M"] = 0.59  # not identity: the same analysis, resent
    assert make_event("frame.analyzed", frame, source=SOURCE)["id"] == first["id"]
    frame["model"]["sha256"] = "0" * 64      # another model: another result
    assert make_event("frame.analyzed", frame, source=SOURCE)["id"] != first["id"]
    saliency = make_event("saliency", example_data["saliency"], source=SOURCE)
    assert saliency["id"] != first["id"]     # same frame, other type

    alert = example_data["alert"]
    firing = make_event("alert", alert, source=SOURCE)
    alert.update(state="resolved", resolved_at="2024-05-10T12:30:00.000Z")
    resolved = make_event("alert", alert, source=SOURCE)
    assert firing["id"] != resolved["id"] and firing["subject"] == resolved["subject"]


def test_missing_identity_field_is_named(example_data: dict[str, dict[str, Any]]) -> None:
    frame = example_data["frame.analyzed"]
    del frame["model"]["sha256"]
    with pytest.raises(EventValidationError, match=r"data\.model\.sha256") as caught:
        make_event("frame.analyzed", frame, source=SOURCE)
    assert caught.value.path == "$.data.model.sha256"


@pytest.mark.parametrize(("name", "breakage", "path"), [
    ("frame.analyzed", lambda d: d["inputs"][1].__setitem__("channel", "193"),
     "$.data.inputs[1].channel"),
    ("frame.analyzed", lambda d: d.pop("latencies_s"), "$.data"),
    ("frame.analyzed", lambda d: d["class_probabilities"].__setitem__("M", 1.5),
     "$.data.class_probabilities.M"),
    ("saliency", lambda d: d["targets"][0]["regions"][0].__setitem__("hgs_lat_deg", None),
     "$.data.targets[0].regions[0].hgs_lat_deg"),  # on disk needs heliographic coordinates
    ("saliency", lambda d: d["targets"][0]["regions"][1].__setitem__("noaa_location", "N5W3"),
     "$.data.targets[0].regions[1].noaa_location"),
    ("frame.analyzed", lambda d: d["flare_location"]["pointing_error_arcsec"].__setitem__(
        "median", -1.0), "$.data.flare_location.pointing_error_arcsec.median"),
    ("frame.analyzed", lambda d: d["flare_location"].pop("target"), "$.data.flare_location"),
    ("frame.analyzed", lambda d: d["flare_location"].__setitem__("channels", []),
     "$.data.flare_location.channels"),
    ("saliency", lambda d: d["targets"][0]["regions"][0]["flare"].__setitem__("area_msh", -5),
     "$.data.targets[0].regions[0].flare.area_msh"),
    ("alert", lambda d: d["location"]["flare"].__setitem__("noaa_location", "N1W1"),
     "$.data.location"),  # location is oneOf(region, null): the error names the field
    ("alert", lambda d: d.__setitem__("state", "resolved"), "$.data.resolved_at"),
    ("alert", lambda d: d.__setitem__("noaa_scale", "M1"), "$.data.noaa_scale"),
    ("alert", lambda d: d.__setitem__("evidence_frames", "aia-1"), "$.data.evidence_frames"),
    ("input.rejected", lambda d: d.__setitem__("size_bytes", -1), "$.data.size_bytes"),
    ("input.rejected", lambda d: d.__setitem__("extra", 1), "$.data"),
])
def test_broken_data_fails_naming_the_path(name: str, breakage: Any, path: str,
                                            example_data: dict[str, dict[str, Any]]) -> None:
    event = make_event(name, example_data[name], source=SOURCE)
    breakage(event["data"])
    with pytest.raises(EventValidationError) as caught:
        validate_event(event)
    assert caught.value.path == path
    assert path in str(caught.value) and event["id"] in str(caught.value)


@pytest.mark.parametrize(("attribute", "value", "path"), [
    ("time", "2024-05-10 12:00", "$.time"),
    ("specversion", "0.3", "$.specversion"),
    ("dataschema", "urn:sdo-monitor:schema:alert.v2", "$.dataschema"),
    ("source", "", "$.source"),
    ("Bad-Extension", "x", "$"),
])
def test_broken_envelope_fails_naming_the_path(attribute: str, value: str, path: str,
                                                example_data: dict[str, dict[str, Any]]) -> None:
    event = make_event("alert", example_data["alert"], source=SOURCE)
    event[attribute] = value
    with pytest.raises(EventValidationError) as caught:
        validate_event(event)
    assert caught.value.path == path


def test_extension_attributes_are_allowed(example_data: dict[str, dict[str, Any]]) -> None:
    event = make_event("alert", example_data["alert"], source=SOURCE)
    event["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    validate_event(event)


def test_missing_envelope_attribute(example_data: dict[str, dict[str, Any]]) -> None:
    event = make_event("saliency", example_data["saliency"], source=SOURCE)
    del event["id"]
    with pytest.raises(EventValidationError, match="'id' is a required property"):
        validate_event(event)


def test_unknown_types_and_missing_identity() -> None:
    with pytest.raises(EventValidationError, match="unknown event type") as caught:
        validate_event({"type": "org.sdo-monitor.frame.analysed.v1"})
    assert caught.value.path == "$.type"
    with pytest.raises(EventValidationError):  # goes.event needs event_id, state, level
        make_event("org.sdo-monitor.goes.event.v1", {}, source=SOURCE)
    with pytest.raises(EventValidationError, match="JSON object"):
        validate_event([])  # type: ignore[arg-type]


def test_rfc3339_is_utc_and_refuses_naive_datetimes() -> None:
    cest = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2024, 5, 10, 14, 0, 0, 123456, tzinfo=cest)) == \
        "2024-05-10T12:00:00.123Z"
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    with pytest.raises(ValueError, match="naive"):
        rfc3339(datetime(2024, 5, 10, 12))


@pytest.mark.parametrize("name", NAMES)
def test_schema_files_are_valid_2020_12_and_ship_in_the_package(name: str) -> None:
    kind = event_type(name)
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == kind.dataschema
    assert schema["properties"]["type"]["const"] == kind.type
    assert resources.files("monitor.publish").joinpath("schemas", kind.schema_file).is_file()


def test_every_schema_shares_one_envelope() -> None:
    # The files are self-contained for consumers, so the envelope is repeated:
    # this keeps the copies from drifting apart.
    def envelope(name: str) -> dict[str, Any]:
        schema = copy.deepcopy(load_schema(name))
        for attribute in ("type", "dataschema"):
            schema["properties"].pop(attribute)
        for key in ("$id", "title", "description", "$defs"):
            schema.pop(key)
        return schema

    first = envelope(NAMES[0])
    assert all(envelope(name) == first for name in NAMES[1:])
    timestamps = {json.dumps(load_schema(n)["$defs"]["timestamp"]) for n in NAMES}
    assert len(timestamps) == 1
    regions = {json.dumps(load_schema(n)["$defs"]["region"]) for n in ("saliency", "alert")}
    assert len(regions) == 1


def test_to_outbound_picks_topic_and_key(example_data: dict[str, dict[str, Any]]) -> None:
    expected = {"frame.analyzed": ("ops.frames", b"aia-20240510T120000Z"),
                "saliency": ("ops.saliency", b"aia-20240510T120000Z"),
                "alert": ("ops.alerts", b"flare-m1"),
                "input.rejected": ("ops.rejects", b"spool-nrt")}
    for name, (topic, key) in expected.items():
        event = make_event(name, example_data[name], source=SOURCE)
        message = to_outbound(event, "ops", created_at=5.0)
        assert (message.topic, message.key, message.created_at) == (topic, key, 5.0)
        assert message.message_id == event["id"] and json.loads(message.value) == event
    assert to_outbound(event, "ops", key=b"custom").key == b"custom"
    assert CONTENT_TYPE.startswith("application/cloudevents+json")


def test_every_validator_is_compiled_up_front() -> None:
    # The daemon compiles them at start-up (ResultPublisher), so no frame pays for it.
    # A fresh interpreter: this one's cache is already warm from the tests above.
    code = (
        "from monitor.publish.envelope import EVENT_TYPES, _validator, prepare_validators\n"
        "assert _validator.cache_info().currsize == 0\n"
        "n = prepare_validators()\n"
        "info = _validator.cache_info()\n"
        "assert n == len(EVENT_TYPES) == info.currsize, (n, info)\n"
        "for kind in EVENT_TYPES.values():\n"
        "    _validator(kind.type)\n"
        "assert _validator.cache_info().misses == info.misses\n"
        "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
