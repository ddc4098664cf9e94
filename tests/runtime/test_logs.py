"""The JSON log lines and the masking of e-mail addresses and phone numbers in them."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.model import RouterEvent
from router.runtime.logs import JsonFormatter, MaskingFilter, mask, mask_value, setup_logging

# ------------------------------------------------------------------ mask()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from jane.doe@example.com today", "from j***@example.com today"),
        ("<x@mail.example.co.uk>", "<x***@mail.example.co.uk>"),
        ("GET /v1/x?email=jane%40example.com&a=1", "GET /v1/x?email=j***%40example.com&a=1"),
        ("+15551234534", "+*********34"),
        ("call +1 (555) 010-0134 now", "call +*********34 now"),
        ("+44 20 7946 0958", "+**********58"),
        ("555-123-4567", "********67"),
        ("555.123.4567.", "********67."),
        ("(555) 123-4567", "********67"),
        ("01 23 45 67 89", "********89"),
        ("wa_id 15551234567", "wa_id *********67"),
        ("tel:+15551234567", "tel:+*********67"),
        (
            "POST /v1/channels/twilio/sms?From=%2B15551234567",
            "POST /v1/channels/twilio/sms?From=%2B*********67",
        ),
        ("/v1/customers/5551234567/history", "/v1/customers/********67/history"),
        ("[5551234567,5559876543]", "[********67,********43]"),
    ],
)
def test_mask_hides_emails_and_phone_numbers(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "at 1732280000.123",
        "at 1732280000",
        "at 1732280000123",
        "listening on 127.0.0.1:8080",
        "from 192.168.100.200:8080 and 192.168.100.200",
        "took 0.0001234567 s",
        "took 1234.5678 ms",
        "42 contacts, 3 agents, 1500 ms",
        "2024-11-22",
        "2024-11-22T10:00:00.123Z",
        "2024-11-22 10:00:00.123456+00:00",
        "22.11.2024",
        "10:00:00.1234567",
        "contact c-3f2a9c81d2e34b5f8a6e0c1d2e3f4a5b offer of-12",
        "contact c-1234567890",
        "12345678-1234-4123-8123-123456789012",
        "trace 1.7322800001234567e+09",
        "delta -12345678",
        "1 2 3 4 5 6 7",
        "j***@example.com and +*********34 stay as they are",
    ],
)
def test_mask_leaves_ordinary_numbers_and_ids(text: str) -> None:
    assert mask(text) == text


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_no_float_is_masked(number: float) -> None:
    text = f"took {number} s, at={number!r}"
    assert mask(text) == text


@given(st.integers(min_value=-999_999, max_value=999_999))
def test_no_small_integer_is_masked(number: int) -> None:
    text = f"port {number}, count={number}"
    assert mask(text) == text


@given(st.floats(min_value=1e9, max_value=1.99e9), st.sampled_from([1, 1000]))
def test_no_epoch_timestamp_is_masked(seconds: float, scale: int) -> None:
    text = f"at {int(seconds * scale)} and {round(seconds, 3)}"
    assert mask(text) == text


@given(
    st.datetimes(
        min_value=dt.datetime(1900, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
    st.sampled_from(["T", " "]),
)
def test_no_iso_date_or_time_is_masked(when: dt.datetime, timespec: str, sep: str) -> None:
    text = f"at {when.isoformat(sep=sep, timespec=timespec)} on {when.date().isoformat()}"
    assert mask(text) == text


@given(st.uuids())
def test_no_uuid_or_hex_id_is_masked(value: uuid.UUID) -> None:
    text = f"contact c-{value.hex} {value} of-{value.int % 10_000}"
    assert mask(text) == text


@given(
    st.sampled_from(["+", "", "%2B"]),
    st.lists(st.integers(min_value=0, max_value=9), min_size=7, max_size=15),
    st.sampled_from([" ", "-", ""]),
)
def test_every_phone_number_keeps_only_its_last_two_digits(
    plus: str, digits: list[int], separator: str
) -> None:
    number = "".join(map(str, digits))
    # Grouped like phone numbers are written: a first group of 3, then groups of 4.
    grouped = separator.join([number[:3]] + [number[i : i + 4] for i in range(3, len(number), 4)])
    masked = mask(f"call {plus}{grouped} now")
    if not plus and not separator and len(number) in (10, 13) and number[0] == "1":
        assert masked == f"call {number} now"  # an epoch timestamp, by its shape
    else:
        assert masked == f"call {plus}{'*' * (len(number) - 2)}{number[-2:]} now"


def test_mask_value_walks_containers_and_dataclasses() -> None:
    @dataclass(frozen=True, slots=True)
    class Customer:
        email: str
        phone: str
        visits: int

    value = {
        "customer": Customer("jane@example.com", "+15551234567", 3),
        "jane@example.com": ["+15551234567", ("x@y.org",), {"n": 1.5, "ok": True, "none": None}],
        "when": dt.datetime(2024, 11, 22, 10, 0, tzinfo=dt.UTC),
        "raw": b"bob@example.com",
    }
    assert mask_value(value) == {
        "customer": {"email": "j***@example.com", "phone": "+*********67", "visits": 3},
        "j***@example.com": ["+*********67", ["x***@y.org"], {"n": 1.5, "ok": True, "none": None}],
        "when": "2024-11-22T10:00:00+00:00",
        "raw": "b***@example.com",
    }


def test_mask_value_shows_a_named_tuple_by_its_fields() -> None:
    event = RouterEvent(type="queued", at=1.0, contact_id="c-1", details={"to": "jane@example.com"})
    assert mask_value(event) == {
        "type": "queued",
        "at": 1.0,
        "contact_id": "c-1",
        "agent_id": None,
        "queue": None,
        "details": {"to": "j***@example.com"},
    }


# ------------------------------------------------------------------ log lines


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines into a buffer; the previous setup put back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    quiet = ["aiohttp", "aiohttp.access", "asyncio", "aiomqtt", "mqtt", "paho", "mail.log"]
    saved_quiet = {name: logging.getLogger(name).level for name in quiet}
    stream = io.StringIO()
    setup_logging("debug", stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)
    for name, level in saved_quiet.items():
        logging.getLogger(name).setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_line_with_its_fields(log_stream: io.StringIO) -> None:
    log = logging.getLogger("router.test")
    log.info("routed %d contacts in %.3f s", 3, 0.25, extra={"queue": "support", "waiting": 2})
    log.debug("second")
    first, second = lines(log_stream)
    assert first["level"] == "info"
    assert first["logger"] == "router.test"
    assert first["msg"] == "routed 3 contacts in 0.250 s"
    assert first["queue"] == "support"
    assert first["waiting"] == 2
    assert "exc" not in first
    assert isinstance(first["ts"], str)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", first["ts"])
    parsed = dt.datetime.fromisoformat(first["ts"])
    assert abs((dt.datetime.now(dt.UTC) - parsed).total_seconds()) < 3600
    assert second["msg"] == "second"
    assert second["level"] == "debug"


def test_personal_data_is_masked_everywhere_it_can_leave(log_stream: io.StringIO) -> None:
    log = logging.getLogger("router.test")
    log.warning(
        "contact from jane.doe@example.com and %s, waited %s s",
        "+15551234567",
        1732280000.123,
        extra={
            "customer": {"email": "bob@example.org", "phones": ["+44 20 7946 0958"]},
            "note": "call 555-123-4567",
            "contact_id": "c-3f2a9c81",
            "at": 1732280000.123,
        },
    )
    try:
        raise ValueError("bad address carol@example.net, phone +33 1 23 45 67 89")
    except ValueError:
        log.exception("failed for %s", "dave@example.com")
    (first, second) = lines(log_stream)
    assert first["msg"] == "contact from j***@example.com and +*********67, waited 1732280000.123 s"
    assert first["customer"] == {"email": "b***@example.org", "phones": ["+**********58"]}
    assert first["note"] == "call ********67"
    assert first["contact_id"] == "c-3f2a9c81"
    assert first["at"] == 1732280000.123
    assert second["level"] == "error"
    assert second["msg"] == "failed for d***@example.com"
    exc = second["exc"]
    assert isinstance(exc, str)
    assert exc.startswith("Traceback (most recent call last):")
    assert "ValueError: bad address c***@example.net, phone +*********89" in exc
    everything = log_stream.getvalue()
    for secret in ("jane.doe", "bob@", "carol@", "dave@", "5551234567", "7946", "23 45 67"):
        assert secret not in everything


def test_extra_fields_never_replace_the_records_own(log_stream: io.StringIO) -> None:
    logging.getLogger("router.test").info("hello", extra={"ts": "forged", "level": "forged"})
    (line,) = lines(log_stream)
    assert line["ts"] != "forged"
    assert line["level"] == "info"


def test_setup_twice_keeps_one_handler(log_stream: io.StringIO) -> None:
    other = io.StringIO()
    setup_logging("info", stream=other)
    setup_logging("info", stream=other)
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(ours) == 1
    logging.getLogger("router.test").info("once")
    logging.getLogger("router.test").debug("below the level")
    assert [line["msg"] for line in lines(other)] == ["once"]
    assert log_stream.getvalue() == ""


def test_noisy_libraries_are_quieted_but_access_lines_kept_and_masked(
    log_stream: io.StringIO,
) -> None:
    logging.getLogger("aiohttp.server").info("connection details")
    logging.getLogger("aiomqtt").debug("packet")
    logging.getLogger("aiohttp.access").info(
        '%s "%s" %s', "127.0.0.1", "GET /v1/contacts?phone=%2B15551234567 HTTP/1.1", 200
    )
    (line,) = lines(log_stream)
    assert line["logger"] == "aiohttp.access"
    assert line["msg"] == '127.0.0.1 "GET /v1/contacts?phone=%2B*********67 HTTP/1.1" 200'


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        setup_logging("loud", stream=io.StringIO())


def test_masking_filter_masks_records_for_any_handler() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(who)s"))
    handler.addFilter(MaskingFilter())
    log = logging.getLogger("router.test.filter")
    log.propagate = False
    log.addHandler(handler)
    try:
        try:
            raise RuntimeError("lost +15551234567")
        except RuntimeError:
            log.exception("for %s", "jane@example.com", extra={"who": "bob@example.org"})
    finally:
        log.removeHandler(handler)
        log.propagate = True
    text = stream.getvalue()
    assert text.startswith("ERROR for j***@example.com b***@example.org\n")
    assert "RuntimeError: lost +*********67" in text
    assert "5551234567" not in text
    assert "jane@" not in text
