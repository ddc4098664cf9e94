"""Read the normalized contact of CONTRACT section 4 (decoded JSON) into a `Contact`.

Rules, so that every entry point (HTTP, MQTT, simulator) refuses the same things:

- The payload must be a JSON object. Unknown top-level keys are ignored, and so
  are unknown keys inside `customer`: gateways may send more than this version
  reads (forward compatible).
- An optional key that is absent or `null` takes its default.
- `channel` is a non-empty string. When the caller knows the channel (the MQTT
  topic `router/contacts/in/{channel}`), it passes it as `channel=`: the payload
  may then omit `channel`, and must not contradict it.
- `id`, when given, is a non-empty string of at most 200 characters and wins
  over the `contact_id` the caller assigned.
- `customer` is an object whose `id`, `name`, `email`, `phone`, `tier` and
  `language` are strings; `tier` defaults to "standard". `handles` maps a
  channel to the customer's id there (`{"whatsapp": "447700900123"}`).
- `subject` (at most 1,000 characters) and `body` (at most 100,000) are strings.
- `queue` and `thread_id` are non-empty strings.
- `skills` is a list of non-empty strings; `priority` an integer (not a
  boolean) from -1000 to 1000; `attributes` an object, kept as given behind a
  read-only mapping.

Every refusal is a `ModelError` whose message names the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from router.model import Contact, Customer, ModelError

MAX_ID_LENGTH = 200
MAX_SUBJECT_LENGTH = 1_000
MAX_BODY_LENGTH = 100_000
PRIORITY_MIN = -1000
PRIORITY_MAX = 1000

_CUSTOMER_FIELDS = ("id", "name", "email", "phone", "tier", "language")


def contact_from_json(
    payload: Mapping[str, Any], *, contact_id: str, channel: str | None = None
) -> Contact:
    """Turn a decoded normalized contact into a `Contact`, or raise `ModelError`."""
    if not isinstance(payload, Mapping):
        raise ModelError(f"contact must be a JSON object, not {_kind(payload)}")
    return Contact(
        id=_id(payload.get("id"), contact_id),
        channel=_channel(payload.get("channel"), channel),
        customer=_customer(payload.get("customer")),
        subject=_text(payload.get("subject"), "subject", MAX_SUBJECT_LENGTH),
        body=_text(payload.get("body"), "body", MAX_BODY_LENGTH),
        queue=_optional_name(payload.get("queue"), "queue"),
        skills=_skills(payload.get("skills")),
        priority=_priority(payload.get("priority")),
        thread_id=_optional_name(payload.get("thread_id"), "thread_id"),
        attributes=_attributes(payload.get("attributes")),
    )


def _kind(value: object) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _id(value: object, assigned: str) -> str:
    if value is None:
        return assigned
    if not isinstance(value, str) or not value:
        raise ModelError(f"id must be a non-empty string, not {_kind(value)}")
    if len(value) > MAX_ID_LENGTH:
        raise ModelError(f"id must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    return value


def _channel(value: object, expected: str | None) -> str:
    if expected == "":
        raise ModelError("channel (from the topic) must be a non-empty string")
    if value is None:
        if expected is None:
            raise ModelError("channel is missing")
        return expected
    if not isinstance(value, str) or not value:
        raise ModelError(f"channel must be a non-empty string, not {_kind(value)}")
    if expected is not None and value != expected:
        raise ModelError(f"channel {value!r} differs from the topic's channel {expected!r}")
    return value


def _customer(value: object) -> Customer:
    if value is None:
        return Customer()
    if not isinstance(value, Mapping):
        raise ModelError(f"customer must be an object, not {_kind(value)}")
    fields: dict[str, str] = {}
    for name in _CUSTOMER_FIELDS:
        item = value.get(name)
        if item is None:
            continue
        if not isinstance(item, str):
            raise ModelError(f"customer.{name} must be a string, not {_kind(item)}")
        fields[name] = item
    return Customer(**fields, handles=_handles(value.get("handles")))


def _handles(value: object) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ModelError(f"customer.handles must be an object, not {_kind(value)}")
    for channel, handle in value.items():
        if not isinstance(handle, str) or not handle or len(handle) > MAX_ID_LENGTH:
            raise ModelError(f"customer.handles.{channel} must be a non-empty string")
    return MappingProxyType(dict(value))


def _text(value: object, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ModelError(f"{name} must be a string, not {_kind(value)}")
    if len(value) > limit:
        raise ModelError(f"{name} must be at most {limit:,} characters, got {len(value):,}")
    return value


def _optional_name(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ModelError(f"{name} must be a non-empty string, not {_kind(value)}")
    return value


def _skills(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ModelError(f"skills must be an array of strings, not {_kind(value)}")
    for index, skill in enumerate(value):
        if not isinstance(skill, str) or not skill:
            raise ModelError(f"skills[{index}] must be a non-empty string, not {_kind(skill)}")
    return tuple(value)


def _priority(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelError(f"priority must be an integer, not {_kind(value)}")
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise ModelError(f"priority must be from {PRIORITY_MIN} to {PRIORITY_MAX}, got {value}")
    return value


def _attributes(value: object) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ModelError(f"attributes must be an object, not {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise ModelError(f"attributes keys must be strings, not {_kind(key)}")
    return MappingProxyType(dict(value))
