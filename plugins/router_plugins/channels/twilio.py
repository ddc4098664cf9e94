"""Channel plugin `twilio`: Twilio Programmable Voice and SMS webhooks as contacts.

Twilio posts its webhooks form-encoded. `router.runtime.webhooks` checks the
`X-Twilio-Signature` with `signature_valid` and hands the form fields, as a
flat mapping, to `router_parse_contact` here:

- channel "voice" with a `CallSid`: an incoming call. The contact id is
  "twilio-" + CallSid, so a webhook Twilio sends again (retries, status
  callbacks) finds the contact the first one made instead of making another.
- channel "sms" with a `MessageSid` (or the older `SmsSid`): a text message,
  id "twilio-" + MessageSid, threaded per pair of numbers.

Any other payload is not ours (None): a gateway may still post normalized
contacts of channel "voice" or "sms", which the `normalized` reader takes.

The signature (Twilio's "Validating requests" page): the full URL Twilio
called, then every POST parameter sorted by name (case-sensitive), each
name and value appended without separators; HMAC-SHA1 with the account's
auth token; base64. Twilio keeps or drops a port in the URL depending on
the product (voice over HTTPS drops it, SMS keeps it), so both forms are
tried, as Twilio's own helper libraries do. JSON bodies are signed
differently: the URL carries `bodySHA256` (hex SHA-256 of the raw body) and
the signature covers the URL alone.

Options: none. The credentials live in `[channels.twilio]` (`auth_token`,
`public_url`) and are read by the webhook routes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from router import hookimpl
from router.contact_json import MAX_BODY_LENGTH
from router.model import Contact, Customer, ModelError

#: Twilio SIDs are two letters and 32 hex digits; this is looser, but keeps ids
#: safe in URLs, MQTT topics and Twilio queue names (at most 64 characters)
_SID = re.compile(r"^[A-Za-z0-9]{1,56}$")
#: Twilio sends at most 10 media per message; more is a malformed payload
MAX_MEDIA = 10
_DEFAULT_PORTS = {"https": 443, "http": 80}


# ---------------------------------------------------------------- signatures
def expected_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The `X-Twilio-Signature` Twilio sends for a POST of `params` to `url`."""
    # sorting the pairs sorts by name, then by value for a repeated name
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_valid(
    auth_token: str,
    url: str,
    params: Iterable[tuple[str, str]],
    header: str | None,
    *,
    body: bytes | None = None,
) -> bool:
    """Whether `header` is Twilio's signature of this request, compared in constant time.

    When `url` carries `bodySHA256` (a JSON body), the signature covers the URL
    only and `body` must hash to that value; `params` are then not signed.
    """
    if not auth_token or not header:
        return False
    signed = list(params)
    body_hash = parse_qs(urlsplit(url).query, keep_blank_values=True).get("bodySHA256")
    if body_hash is not None:
        if body is None:
            return False
        actual = hashlib.sha256(body).hexdigest().encode()
        if not hmac.compare_digest(actual, body_hash[0].lower().encode()):
            return False
        signed = []
    given = header.strip().encode()
    return any(
        hmac.compare_digest(expected_signature(auth_token, candidate, signed).encode(), given)
        for candidate in url_variants(url)
    )


def url_variants(url: str) -> tuple[str, ...]:
    """`url` as given, then with its port dropped (or the scheme's default port added)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return (url,)
    host = parts.hostname
    if not host:
        return (url,)
    host = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = host
    elif parts.scheme in _DEFAULT_PORTS:
        netloc = f"{host}:{_DEFAULT_PORTS[parts.scheme]}"
    else:
        return (url,)
    return (url, urlunsplit(parts._replace(netloc=netloc)))


# ------------------------------------------------------------------ parsing
@hookimpl
def router_parse_contact(
    channel: str, payload: Mapping[str, Any], contact_id: str
) -> Contact | None:
    if channel == "voice" and "CallSid" in payload:
        return voice_contact(payload)
    if channel == "sms" and ("MessageSid" in payload or "SmsSid" in payload):
        return sms_contact(payload)
    return None


def voice_contact(fields: Mapping[str, Any]) -> Contact:
    """An incoming call (Twilio's voice webhook) as a `voice` contact."""
    call_sid = _sid(fields, "CallSid")
    caller = _required(fields, "From")
    attributes: dict[str, Any] = {"call_sid": call_sid, "from": caller}
    for field, name in (
        ("To", "to"),
        ("Direction", "direction"),
        ("CallStatus", "call_status"),
        ("FromCity", "from_city"),
        ("FromState", "from_state"),
        ("FromCountry", "from_country"),
    ):
        if (value := _optional(fields, field)) is not None:
            attributes[name] = value
    withheld = is_withheld_number(caller)
    if withheld:
        attributes["caller_id_withheld"] = True
    customer = Customer(
        name=_optional(fields, "CallerName") or None,
        # a withheld caller id is one placeholder shared by every anonymous caller:
        # as a phone identity it would merge strangers into one customer
        phone=None if withheld else caller,
    )
    return Contact(
        id=f"twilio-{call_sid}",
        channel="voice",
        customer=customer,
        attributes=MappingProxyType(attributes),
    )


def sms_contact(fields: Mapping[str, Any]) -> Contact:
    """An incoming SMS or MMS (Twilio's messaging webhook) as an `sms` contact."""
    message_sid = _sid(fields, "MessageSid" if "MessageSid" in fields else "SmsSid")
    sender = _required(fields, "From")
    recipient = _required(fields, "To")
    body = _optional(fields, "Body") or ""
    if len(body) > MAX_BODY_LENGTH:
        raise ModelError(f"Body must be at most {MAX_BODY_LENGTH:,} characters")
    attributes: dict[str, Any] = {"message_sid": message_sid, "from": sender, "to": recipient}
    for field, name in (("FromCity", "from_city"), ("FromCountry", "from_country")):
        if (value := _optional(fields, field)) is not None:
            attributes[name] = value
    media = _media(fields)
    if media:
        attributes["media"] = media
    return Contact(
        id=f"twilio-{message_sid}",
        channel="sms",
        # Twilio's WhatsApp senders post here too, with "whatsapp:+1555..." numbers
        customer=Customer(phone=sender.removeprefix("whatsapp:")),
        body=body,
        thread_id=f"sms:{sender}:{recipient}",
        attributes=MappingProxyType(attributes),
    )


def _media(fields: Mapping[str, Any]) -> list[dict[str, str]]:
    count_text = _optional(fields, "NumMedia")
    if count_text is None or count_text == "":
        return []
    if not count_text.isdigit() or int(count_text) > MAX_MEDIA:
        raise ModelError(f"NumMedia must be a number from 0 to {MAX_MEDIA}, not {count_text!r}")
    media = []
    for index in range(int(count_text)):
        url = _required(fields, f"MediaUrl{index}")
        content_type = _optional(fields, f"MediaContentType{index}") or ""
        media.append({"url": url, "content_type": content_type})
    return media


# Twilio shows a withheld caller id as a number spelling the reason on a phone
# keypad: +266696687 is ANONYMOUS, +86282452253 UNAVAILABLE, and so on.
_KEYPAD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "22233344455566677778889999")
_WITHHELD_WORDS = ("ANONYMOUS", "UNKNOWN", "UNAVAILABLE", "RESTRICTED", "BLOCKED", "PRIVATE")
WITHHELD_NUMBERS = frozenset("+" + word.translate(_KEYPAD) for word in _WITHHELD_WORDS)


def is_withheld_number(caller: str) -> bool:
    """Whether `caller` says the number is hidden rather than naming one."""
    text = caller.strip()
    return text in WITHHELD_NUMBERS or text.upper() in _WITHHELD_WORDS or not text


def _sid(fields: Mapping[str, Any], name: str) -> str:
    value = _required(fields, name)
    if not _SID.match(value):
        raise ModelError(f"{name} must be a Twilio SID (letters and digits), not {value[:80]!r}")
    return value


def _required(fields: Mapping[str, Any], name: str) -> str:
    value = _optional(fields, name)
    if not value:
        raise ModelError(f"{name} is missing from the Twilio webhook")
    return value


def _optional(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ModelError(f"{name} must be a string, not {type(value).__name__}")
    return value
