"""channels.twilio: Twilio's request signature and its voice and SMS webhooks as contacts.

The expected signatures are computed here again from Twilio's public
description ("Validating requests", twilio.com/docs/usage/security), not with
the module's own function, and checked against Twilio's documented examples.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from router.model import ModelError
from router.plugins import load_plugins
from router_plugins.channels import twilio

DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
CALL_SID = "CA" + "0123456789abcdef" * 2
MESSAGE_SID = "SM" + "fedcba9876543210" * 2


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's steps: URL, then each POST field sorted by name as name+value; HMAC-SHA1; base64."""
    text = url
    for name in sorted(params):
        text += name + params[name]
    mac = hmac.new(token.encode(), text.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


# ------------------------------------------------------------- signatures
def test_signature_matches_twilios_documented_example() -> None:
    assert twilio_signature("12345", DOC_URL, DOC_PARAMS) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    pairs = list(DOC_PARAMS.items())
    assert twilio.expected_signature("12345", DOC_URL, pairs) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio.signature_valid("12345", DOC_URL, pairs, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_signature_matches_the_worked_example_of_the_security_page() -> None:
    params = {**DOC_PARAMS, "From": "+14158675310", "Caller": "+14158675310"}
    url = "https://example.com/myapp.php?foo=1&bar=2"
    assert twilio.expected_signature("12345", url, params.items()) == "L/OH5YylLD5NRKLltdqwSvS0BnU="


def test_signature_sorts_by_name_case_sensitively_whatever_the_order_given() -> None:
    params = {"b": "2", "B": "1", "a": "x y", "Body": "héllo & <ok>"}
    expected = twilio_signature("secret", "https://r.example.com/v1/channels/twilio/sms", params)
    shuffled = list(reversed(list(params.items())))
    url = "https://r.example.com/v1/channels/twilio/sms"
    assert twilio.expected_signature("secret", url, shuffled) == expected
    assert twilio.signature_valid("secret", url, shuffled, expected)


def test_repeated_names_are_sorted_by_value() -> None:
    url = "https://r.example.com/hook"
    text = url + "Tagalpha" + "Tagbeta" + "Zed1"
    expected = base64.b64encode(hmac.new(b"t", text.encode(), hashlib.sha1).digest()).decode()
    params = [("Zed", "1"), ("Tag", "beta"), ("Tag", "alpha")]
    assert twilio.expected_signature("t", url, params) == expected


@pytest.mark.parametrize(
    ("token", "url", "header"),
    [
        ("12345", DOC_URL, "0/KCTR6DLpKmkAf8muzZqo1nDgQ"),  # truncated
        ("12346", DOC_URL, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),  # other token
        ("12345", DOC_URL + "&baz=3", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),  # other URL
        ("12345", DOC_URL, ""),
        ("12345", DOC_URL, None),
        ("", DOC_URL, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),  # no token configured
        ("12345", DOC_URL, "ünïcode"),  # not even ASCII: refused, not an exception
    ],
)
def test_a_wrong_signature_is_refused(token: str, url: str, header: str | None) -> None:
    assert not twilio.signature_valid(token, url, list(DOC_PARAMS.items()), header)


def test_a_changed_parameter_is_refused() -> None:
    header = twilio_signature("12345", DOC_URL, DOC_PARAMS)
    changed = {**DOC_PARAMS, "Digits": "9999"}
    assert not twilio.signature_valid("12345", DOC_URL, list(changed.items()), header)
    extra = [*DOC_PARAMS.items(), ("Extra", "1")]
    assert not twilio.signature_valid("12345", DOC_URL, extra, header)


def test_the_port_may_be_present_or_not() -> None:
    # voice over HTTPS signs without the port, SMS keeps it: both must pass
    params = {"CallSid": CALL_SID}
    with_port = "https://router.example.com:443/v1/channels/twilio/voice"
    without = "https://router.example.com/v1/channels/twilio/voice"
    assert twilio.signature_valid(
        "tok", without, params.items(), twilio_signature("tok", with_port, params)
    )
    assert twilio.signature_valid(
        "tok", with_port, params.items(), twilio_signature("tok", without, params)
    )
    assert twilio.url_variants("http://127.0.0.1:8080/x?a=1") == (
        "http://127.0.0.1:8080/x?a=1",
        "http://127.0.0.1/x?a=1",
    )


def test_json_bodies_are_signed_by_url_and_body_hash() -> None:
    body = b'{"CallSid":"CA1234567890ABCDE","Caller":"+12349013030"}'
    digest = hashlib.sha256(body).hexdigest()
    assert digest == "5ccde7145dfb8f56479710896586cb9d5911809d83afbe34627818790db0aec9"
    url = f"https://example.com/myapp?bodySHA256={digest}"
    header = twilio_signature("12345", url, {})
    assert twilio.signature_valid("12345", url, [], header, body=body)
    # the body's fields are not part of the signature
    assert twilio.signature_valid("12345", url, [("CallSid", "x")], header, body=body)
    assert not twilio.signature_valid("12345", url, [], header, body=body + b" ")
    assert not twilio.signature_valid("12345", url, [], header)  # body not given


# ----------------------------------------------------------------- voice
def call(**extra: str) -> dict[str, str]:
    return {
        "CallSid": CALL_SID,
        "AccountSid": "AC" + "1" * 32,
        "From": "+447700900123",
        "To": "+442079460000",
        "CallStatus": "ringing",
        "Direction": "inbound",
        **extra,
    }


def test_an_incoming_call_becomes_a_voice_contact() -> None:
    fields = call(CallerName="Ada Lovelace", FromCity="LONDON", FromCountry="GB")
    contact = twilio.router_parse_contact(channel="voice", payload=fields, contact_id="c-1")
    assert contact is not None
    assert contact.id == f"twilio-{CALL_SID}"
    assert contact.channel == "voice"
    assert contact.customer.phone == "+447700900123"
    assert contact.customer.name == "Ada Lovelace"
    assert contact.attributes["call_sid"] == CALL_SID
    assert contact.attributes["to"] == "+442079460000"
    assert contact.attributes["direction"] == "inbound"
    assert contact.attributes["from_city"] == "LONDON"
    assert contact.attributes["from_country"] == "GB"
    assert "phone:+447700900123" in contact.customer.identities()


def test_the_same_call_gives_the_same_contact_id() -> None:
    first = twilio.voice_contact(call())
    again = twilio.voice_contact(call(CallStatus="in-progress"))
    assert first.id == again.id


def test_optional_call_fields_are_left_out() -> None:
    contact = twilio.voice_contact({"CallSid": CALL_SID, "From": "+15005550006"})
    assert contact.customer.name is None
    assert "from_city" not in contact.attributes
    assert "to" not in contact.attributes


@pytest.mark.parametrize("caller", ["+266696687", "anonymous", "+86282452253", "+7378742833"])
def test_a_withheld_caller_id_links_no_customer(caller: str) -> None:
    contact = twilio.voice_contact(call(From=caller))
    assert contact.customer.phone is None
    assert contact.customer.identities() == ()
    assert contact.attributes["caller_id_withheld"] is True
    assert contact.attributes["from"] == caller


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"CallSid": "", "From": "+1"}, "CallSid is missing"),
        ({"CallSid": "CA/../x", "From": "+1"}, "CallSid must be a Twilio SID"),
        ({"CallSid": CALL_SID}, "From is missing"),
        ({"CallSid": CALL_SID, "From": 5}, "From must be a string"),
    ],
)
def test_a_bad_call_is_a_model_error(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        twilio.router_parse_contact(channel="voice", payload=fields, contact_id="c")


# ------------------------------------------------------------------- sms
def sms(**extra: str) -> dict[str, str]:
    return {
        "MessageSid": MESSAGE_SID,
        "SmsSid": MESSAGE_SID,
        "From": "+447700900123",
        "To": "+442079460000",
        "Body": "Where is my order?",
        "NumMedia": "0",
        **extra,
    }


def test_an_sms_becomes_an_sms_contact() -> None:
    contact = twilio.router_parse_contact(channel="sms", payload=sms(), contact_id="c-1")
    assert contact is not None
    assert contact.id == f"twilio-{MESSAGE_SID}"
    assert contact.channel == "sms"
    assert contact.body == "Where is my order?"
    assert contact.customer.phone == "+447700900123"
    assert contact.thread_id == "sms:+447700900123:+442079460000"
    assert "media" not in contact.attributes


def test_an_mms_carries_its_media() -> None:
    fields = sms(
        Body="",
        NumMedia="2",
        MediaUrl0="https://api.twilio.com/m/0",
        MediaContentType0="image/jpeg",
        MediaUrl1="https://api.twilio.com/m/1",
        MediaContentType1="application/pdf",
    )
    contact = twilio.sms_contact(fields)
    assert contact.body == ""
    assert contact.attributes["media"] == [
        {"url": "https://api.twilio.com/m/0", "content_type": "image/jpeg"},
        {"url": "https://api.twilio.com/m/1", "content_type": "application/pdf"},
    ]


def test_the_older_smssid_is_read_too() -> None:
    fields = sms()
    del fields["MessageSid"]
    contact = twilio.router_parse_contact(channel="sms", payload=fields, contact_id="c")
    assert contact is not None
    assert contact.id == f"twilio-{MESSAGE_SID}"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"NumMedia": "two"}, "NumMedia must be a number"),
        ({"NumMedia": "11"}, "NumMedia must be a number"),
        ({"NumMedia": "1"}, "MediaUrl0 is missing"),
        ({"To": ""}, "To is missing"),
        ({"MessageSid": "SM 1"}, "MessageSid must be a Twilio SID"),
    ],
)
def test_a_bad_sms_is_a_model_error(extra: dict[str, str], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        twilio.sms_contact(sms(**extra))


# ------------------------------------------------------------ not ours
def test_other_payloads_are_left_to_other_plugins() -> None:
    assert (
        twilio.router_parse_contact(channel="voice", payload={"body": "x"}, contact_id="c") is None
    )
    assert twilio.router_parse_contact(channel="chat", payload=call(), contact_id="c") is None
    assert twilio.router_parse_contact(channel="sms", payload=call(), contact_id="c") is None


def test_through_the_plugin_manager_twilio_answers_before_the_normalized_reader() -> None:
    plugins = load_plugins(entry_points_enabled=False)
    contact = plugins.parse_contact("voice", call(), "c-9")
    assert contact is not None
    assert contact.id == f"twilio-{CALL_SID}"
    normalized = plugins.parse_contact("voice", {"body": "from a gateway"}, "c-10")
    assert normalized is not None
    assert (normalized.id, normalized.body) == ("c-10", "from a gateway")
