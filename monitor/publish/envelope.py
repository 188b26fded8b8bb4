"""CloudEvents 1.0 envelopes (structured JSON mode) for everything the daemon publishes.

Each event type has a versioned JSON Schema shipped next to this module
(``schemas/<name>.v<version>.schema.json``) describing the whole envelope and
its ``data``. Ids are derived from what identifies the message, never from the
clock, so the same logical message always carries the same id and consumers
can drop duplicates (the outbox resends after crashes and broker outages).

Importable without kafka: only the standard library and jsonschema.
"""

from __future__ import annotations

import json
import time as _time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from monitor.publish.outbox import OutboundMessage

__all__ = [
    "CONTENT_TYPE",
    "EVENT_TYPES",
    "ID_NAMESPACE",
    "RESERVED_TYPES",
    "EventType",
    "EventValidationError",
    "encode",
    "event_type",
    "load_schema",
    "make_event",
    "message_id",
    "prepare_validators",
    "rfc3339",
    "to_outbound",
    "validate_event",
]

#: Kafka ``content-type`` header of a structured-mode CloudEvent.
CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"

#: Namespace of the uuid5 message ids (fixed forever: changing it changes every id).
ID_NAMESPACE = uuid.UUID("6f1c8a52-3d0e-5b7a-9c41-2e8d5a7b9f10")

_TYPE_PREFIX = "org.sdo-monitor."


@dataclass(frozen=True)
class EventType:
    """One kind of message: its CloudEvents type, schema, topic and identity.

    Attributes
    ----------
    name : str
        Short name, e.g. ``"frame.analyzed"``.
    version : int
        Schema major version; a breaking change makes a new type (``.v2``).
    topic_suffix : str
        Topic is ``<prefix>.<topic_suffix>``.
    subject_field : str
        ``data`` field used as the CloudEvents ``subject``.
    identity : tuple of str
        Dotted ``data`` paths whose values identify the message (and so its id).
    key_field : str
        ``data`` field used as the default Kafka key (order holds per key).
    """

    name: str
    version: int
    topic_suffix: str
    subject_field: str
    identity: tuple[str, ...]
    key_field: str

    @property
    def type(self) -> str:
        """The CloudEvents ``type``, e.g. ``org.sdo-monitor.frame.analyzed.v1``."""
        return f"{_TYPE_PREFIX}{self.name}.v{self.version}"

    @property
    def schema_file(self) -> str:
        return f"{self.name}.v{self.version}.schema.json"

    @property
    def dataschema(self) -> str:
        """URI in the envelope's ``dataschema`` (also the schema's ``$id``)."""
        return f"urn:sdo-monitor:schema:{self.name}.v{self.version}"


#: The published types, by CloudEvents ``type``.
EVENT_TYPES: dict[str, EventType] = {t.type: t for t in (
    # A frame re-analysed by another model is a new result, so the model hash
    # is part of the identity; the same frame and model always give one id.
    EventType("frame.analyzed", 1, "frames", "frame_id", ("frame_id", "model.sha256"),
              "frame_id"),
    # a shadow (candidate) package's result: one per frame and shadow package
    EventType("frame.shadow", 1, "frames.shadow", "frame_id", ("frame_id", "model.sha256"),
              "frame_id"),
    EventType("saliency", 1, "saliency", "frame_id", ("frame_id", "model.sha256"), "frame_id"),
    # firing and resolved are two messages of one alert; keyed by rule so a
    # rule's messages stay in order on one partition.
    EventType("alert", 1, "alerts", "alert_id", ("alert_id", "state"), "rule"),
    EventType("input.rejected", 1, "rejects", "path", ("path", "sha256", "reason"), "feed"),
    # begin, threshold (R level reached) and end of one GOES X-ray event
    EventType("goes.event", 1, "goes", "event_id", ("event_id", "state", "level"), "feed"),
)}

#: Types whose names are taken but which have no schema yet.
RESERVED_TYPES: frozenset[str] = frozenset()


class EventValidationError(ValueError):
    """An event does not match its schema; ``path`` is the JSON path of the first problem."""

    def __init__(self, message: str, path: str = "$", problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path
        self.problems = problems


def event_type(type_or_name: str) -> EventType:
    """Look up an :class:`EventType` by CloudEvents type or short name (``"alert"``)."""
    found = EVENT_TYPES.get(type_or_name)
    if found is None:
        for candidate in EVENT_TYPES.values():
            if candidate.name == type_or_name:
                return candidate
        if type_or_name in RESERVED_TYPES:
            raise EventValidationError(f"event type {type_or_name} is reserved: no schema yet")
        known = ", ".join(sorted(EVENT_TYPES))
        raise EventValidationError(f"unknown event type {type_or_name!r} (known: {known})",
                                   "$.type")
    return found


def rfc3339(moment: datetime | float | None = None) -> str:
    """RFC 3339 UTC timestamp with millisecond precision and a ``Z`` suffix.

    ``moment`` may be an aware datetime, a Unix time, or None for now. Naive
    datetimes are refused: a wrong time zone must not slip into a message.
    """
    if moment is None:
        when = datetime.now(UTC)
    elif isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("naive datetime: attach a time zone (UTC) first")
        when = moment.astimezone(UTC)
    else:
        when = datetime.fromtimestamp(float(moment), UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dig(data: Mapping[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise EventValidationError(f"identity field data.{dotted} is missing",
                                       f"$.data.{dotted}")
        value = value[part]
    return value


def message_id(kind: EventType, data: Mapping[str, Any]) -> str:
    """The stable id of a message: uuid5 over the type and its identity fields.

    The identity values are serialised as canonical JSON (sorted keys, no
    spaces), so equal values always give equal ids across processes and
    Python versions.
    """
    identity = {path: _dig(data, path) for path in kind.identity}
    canonical = json.dumps([kind.type, identity], sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return str(uuid.uuid5(ID_NAMESPACE, canonical))


def make_event(type_or_name: str, data: Mapping[str, Any], *, source: str,
               time: datetime | float | None = None, subject: str | None = None,
               event_id: str | None = None, validate: bool = True) -> dict[str, Any]:
    """Build a CloudEvents 1.0 structured-mode event.

    Parameters
    ----------
    type_or_name : str
        CloudEvents type (``org.sdo-monitor.alert.v1``) or short name (``alert``).
    data : mapping
        The payload, as described by the type's schema.
    source : str
        URI of the producing instance, e.g. ``urn:sdo-monitor:ops-1``.
    time : datetime or float, optional
        When the occurrence happened (default now). Not part of the id.
    subject : str, optional
        Defaults to the type's subject field of ``data``.
    event_id : str, optional
        Overrides the derived stable id (only for messages without identity fields).
    validate : bool
        Check the event against its schema before returning it.

    Raises
    ------
    EventValidationError
        Unknown type, missing identity field, or (with ``validate``) a schema violation.
    """
    kind = event_type(type_or_name)
    payload = dict(data)
    event = {
        "specversion": "1.0",
        "id": event_id or message_id(kind, payload),
        "source": source,
        "type": kind.type,
        "subject": str(subject if subject is not None else _dig(payload, kind.subject_field)),
        "time": rfc3339(time),
        "datacontenttype": "application/json",
        "dataschema": kind.dataschema,
        "data": payload,
    }
    if validate:
        validate_event(event)
    return event


def encode(event: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON of an event (NaN and infinities are refused: not JSON)."""
    try:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except ValueError as exc:
        raise EventValidationError(f"event {event.get('id')} is not valid JSON: {exc}") from exc


@cache
def load_schema(type_or_name: str) -> dict[str, Any]:
    """The JSON Schema of a type, read from the package."""
    kind = event_type(type_or_name)
    text = resources.files("monitor.publish").joinpath("schemas", kind.schema_file).read_text(
        encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(type_name: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = load_schema(type_name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def prepare_validators() -> int:
    """Compile the validator of every event type now; returns how many there are.

    A validator is otherwise compiled when its type is first published, and the
    first frame after a start would carry ~0.1 s of it for its own two types
    (more for its first alert).
    """
    for kind in EVENT_TYPES.values():
        _validator(kind.type)
    return len(EVENT_TYPES)


def validate_event(event: Mapping[str, Any]) -> None:
    """Check an event against the schema of its ``type``.

    Raises
    ------
    EventValidationError
        With every problem listed as ``<JSON path>: <message>``, most specific
        first; ``path`` holds the first one's path (e.g. ``$.data.inputs[0].channel``).
    """
    if not isinstance(event, Mapping):
        raise EventValidationError(f"event must be a JSON object, got {type(event).__name__}")
    type_name = event.get("type")
    if not isinstance(type_name, str):
        raise EventValidationError("$.type: missing or not a string", "$.type")
    kind = event_type(type_name)
    errors = sorted(_validator(kind.type).iter_errors(dict(event)),
                    key=lambda e: (-len(e.absolute_path), e.json_path))
    if not errors:
        return
    problems = tuple(f"{e.json_path}: {e.message}" for e in errors)
    shown = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
    raise EventValidationError(f"{kind.type} event {event.get('id')} is invalid: {shown}",
                               errors[0].json_path, problems)


def to_outbound(event: Mapping[str, Any], topic_prefix: str, key: bytes | None = None,
                created_at: float | None = None) -> OutboundMessage:
    """Wrap an event as an outbox message for ``<topic_prefix>.<suffix>`` of its type.

    The key defaults to the type's key field of ``data`` (UTF-8), so order
    holds per frame, per alert rule and per feed.
    """
    kind = event_type(str(event["type"]))
    if key is None:
        key = str(_dig(event["data"], kind.key_field)).encode("utf-8")
    return OutboundMessage(message_id=str(event["id"]),
                           topic=f"{topic_prefix}.{kind.topic_suffix}", key=key,
                           value=encode(event),
                           created_at=_time.time() if created_at is None else created_at)
