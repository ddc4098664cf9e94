"""CONTRACT 3's channel webhooks: web chat, Meta (WhatsApp, Messenger), Twilio voice and SMS.

None of these carries the admin's bearer token: each channel proves itself
its own way, and the check comes before anything is read into a contact.

- `POST /v1/channels/chat`: a site's web chat backend posts a normalized
  contact with the site token (`[channels.chat] token`) or the admin token.
  The body is trusted as given (customer tier, priority, queue), so the site
  token belongs on the site's server, not in the visitor's browser.
- `GET /v1/channels/meta/webhook`: Meta's verify handshake. It echoes
  `hub.challenge` when `hub.verify_token` equals `[channels.meta] verify_token`.
- `POST /v1/channels/meta/webhook`: `X-Hub-Signature-256` is checked against
  `[channels.meta] app_secret` over the raw bytes before the body is parsed.
  Meta retries anything but a 200 for days, so a message that cannot be read
  is reported in the answer and logged rather than refused; only an overload
  (503 with Retry-After) asks Meta to come back, which is harmless because
  contact ids come from message ids.
- `POST /v1/channels/twilio/voice` and `/twilio/sms`: `X-Twilio-Signature` is
  checked with `[channels.twilio] auth_token` over the URL Twilio called.
  Behind a proxy or a tunnel the router sees another URL than Twilio does:
  set `[channels.twilio] public_url` (e.g. "https://router.example.com") and
  it replaces the scheme and host of the request's URL (its path, if any, is
  put in front of the request's path); the query is kept.

How a call reaches an agent. Point the Twilio number's voice webhook and its
status callback at `/v1/channels/twilio/voice` (POST). An incoming call
becomes a contact "twilio-{CallSid}" and the router answers TwiML that puts
the caller on hold in a Twilio queue of its own, named by the contact id:

    <Response><Say>...please hold...</Say><Enqueue>twilio-CA...</Enqueue></Response>

When the agent accepts the offer, the agent's desktop (a Twilio Voice SDK
client) dials exactly this caller out of that queue with
`<Dial><Queue>twilio-CA...</Queue></Dial>`. One queue per call means no
other caller can be bridged by mistake, and the router, not Twilio, decides
who waits for whom. A call the router cannot route (rejected) hears that it
cannot be taken and is hung up. When the caller hangs up first, the status
callback (CallStatus completed, busy, failed, no-answer or canceled) for a
contact still queued or offered records it as abandoned.

An unset secret refuses its webhook with 403 naming the config key, so a
half-configured router never accepts unsigned contacts.
"""

from __future__ import annotations

import hmac
import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from router.engine import ContactAbandoned, EngineError
from router.model import ContactState, ModelError
from router.runtime.api import accepted
from router.runtime.auth import bearer_token
from router.runtime.core import RouterCore
from router.runtime.http_common import (
    CORE,
    TOKENS,
    ApiError,
    json_response,
    read_object,
)
from router_plugins.channels import meta, twilio

log = logging.getLogger("router.webhooks")

routes = web.RouteTableDef()

HOLD_MESSAGE = "Thank you for calling. Please hold while we connect you to an agent."
REJECT_MESSAGE = "Sorry, we cannot take your call right now. Please try again later."
#: CallStatus values of a call that is over: the caller is gone
CALL_ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
#: contact states in which the caller should be (or stay) in the call's Twilio queue
CALL_WAITING = frozenset({ContactState.QUEUED, ContactState.OFFERED, ContactState.ASSIGNED})
#: a Twilio form has a few dozen fields; far more is not Twilio
MAX_FORM_FIELDS = 500


# --------------------------------------------------------------- web chat
@routes.post("/v1/channels/chat")
async def chat(request: web.Request) -> web.Response:
    _require_chat_caller(request)
    core = request.app[CORE]
    body = await read_object(request)
    channel = body.get("channel")
    if channel is not None and channel != "chat":
        raise ApiError(
            400, "bad_request", f"this endpoint takes chat contacts only, not channel {channel!r}"
        )
    record = await core.submit_contact(core.parse_contact("chat", {**body, "channel": "chat"}))
    return accepted(record)


def _require_chat_caller(request: web.Request) -> None:
    """The admin, or the site with `[channels.chat] token`; 401 otherwise (403 for agents)."""
    header = request.headers.get("Authorization")
    if not header:
        raise ApiError(401, "unauthorized", "missing bearer token", {"WWW-Authenticate": "Bearer"})
    found = request.app[TOKENS].identify(header)
    if found is not None and found.admin:
        return
    site_token = _channel_settings(request, "chat").get("token")
    token = bearer_token(header)
    if (
        isinstance(site_token, str)
        and site_token
        and token is not None
        and hmac.compare_digest(token.encode(), site_token.encode())
    ):
        return
    if found is not None:
        raise ApiError(
            403, "forbidden", "chat contacts need the site's chat token or the admin token"
        )
    raise ApiError(
        401, "unauthorized", "unknown or malformed bearer token", {"WWW-Authenticate": "Bearer"}
    )


# ------------------------------------------------------------------- meta
@routes.get("/v1/channels/meta/webhook")
async def meta_verify(request: web.Request) -> web.Response:
    expected = _secret(request, "meta", "verify_token")
    query = request.query
    if query.get("hub.mode") != "subscribe":
        raise ApiError(403, "forbidden", "hub.mode must be 'subscribe'")
    given = query.get("hub.verify_token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(403, "forbidden", "hub.verify_token does not match the configured one")
    challenge = query.get("hub.challenge")
    if not challenge:
        raise ApiError(400, "bad_request", "hub.challenge is missing")
    return web.Response(
        text=challenge, content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"}
    )


@routes.post("/v1/channels/meta/webhook")
async def meta_webhook(request: web.Request) -> web.Response:
    secret = _secret(request, "meta", "app_secret")
    header = request.headers.get("X-Hub-Signature-256")
    if not header:
        raise ApiError(403, "forbidden", "the X-Hub-Signature-256 header is missing")
    body = await request.read()
    if not meta.signature_valid(secret, body, header):
        # worth a line in the log: a wrong app_secret refuses every message
        log.warning("Meta webhook refused: X-Hub-Signature-256 does not match the body")
        raise ApiError(403, "forbidden", "X-Hub-Signature-256 does not match the body")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "bad_request", f"the body is not valid JSON: {exc}") from None
    items = meta.split_webhook(document)
    for failure in items.failed_statuses:
        log.warning("WhatsApp could not deliver a message: %s", failure)
    errors = list(items.errors)
    contacts = []
    core = request.app[CORE]
    for number, (channel, payload) in enumerate(items.payloads):
        try:
            record = await core.submit_contact(core.parse_contact(channel, payload))
        except (ModelError, EngineError) as error:
            # reported, not refused: Meta would retry a message that cannot be read forever
            message = error.message if isinstance(error, EngineError) else str(error)
            errors.append(f"{channel} message #{number + 1}: {message}")
            continue
        contacts.append({"id": record.id, "state": str(record.state)})
    for problem in errors:
        log.warning("Meta webhook: %s", problem)
    return json_response(
        {
            "received": len(items.payloads),
            "contacts": contacts,
            "ignored": items.ignored_count,
            "ignored_reasons": dict(items.ignored),
            "errors": errors,
        }
    )


# ----------------------------------------------------------------- twilio
@routes.post("/v1/channels/twilio/voice")
async def twilio_voice(request: web.Request) -> web.Response:
    fields = await _twilio_fields(request)
    if not fields.get("CallSid"):
        raise ApiError(400, "bad_request", "CallSid is missing: not a Twilio voice webhook")
    core = request.app[CORE]
    contact = core.parse_contact("voice", fields)
    if fields.get("CallStatus") in CALL_ENDED:
        await _call_ended(core, contact.id)
        return twiml_response(twiml())
    record = await core.submit_contact(contact)
    return twiml_response(voice_answer(record.id, record.state))


@routes.post("/v1/channels/twilio/sms")
async def twilio_sms(request: web.Request) -> web.Response:
    fields = await _twilio_fields(request)
    if not (fields.get("MessageSid") or fields.get("SmsSid")):
        raise ApiError(400, "bad_request", "MessageSid is missing: not a Twilio SMS webhook")
    core = request.app[CORE]
    await core.submit_contact(core.parse_contact("sms", fields))
    return twiml_response(twiml())


async def _call_ended(core: RouterCore, contact_id: str) -> None:
    """The caller hung up: a contact still waiting for an agent is abandoned."""
    record = core.engine.contact(contact_id)
    if record is None or record.state not in (ContactState.QUEUED, ContactState.OFFERED):
        return  # unknown call, or one an agent holds: the agent completes it
    try:
        await core.submit(ContactAbandoned(contact_id))
    except EngineError as error:
        # an agent took it in the meantime: the agent's completion will close it
        log.info("call %s ended but could not be abandoned: %s", contact_id, error.message)


async def _twilio_fields(request: web.Request) -> dict[str, str]:
    """The webhook's fields, once `X-Twilio-Signature` proves Twilio sent them; else 403."""
    auth_token = _secret(request, "twilio", "auth_token")
    header = request.headers.get("X-Twilio-Signature")
    if not header:
        raise ApiError(403, "forbidden", "the X-Twilio-Signature header is missing")
    url = _twilio_url(request)
    body = await request.read()
    json_body = "bodySHA256" in request.query
    pairs = [] if json_body else _form_pairs(body)
    if not twilio.signature_valid(auth_token, url, pairs, header, body=body):
        # worth a line in the log: a wrong auth_token or public_url refuses every call
        log.warning("Twilio webhook refused: X-Twilio-Signature does not match %s", url)
        raise ApiError(403, "forbidden", f"X-Twilio-Signature does not match a request to {url}")
    return _json_fields(body) if json_body else dict(pairs)


def _twilio_url(request: web.Request) -> str:
    """The URL Twilio called (and signed): `public_url` in front of the path, when set."""
    public = _channel_settings(request, "twilio").get("public_url")
    if public is None or public == "":
        return f"{request.scheme}://{request.host}{request.raw_path}"
    if not isinstance(public, str) or not public.startswith(("https://", "http://")):
        raise ApiError(
            403, "forbidden", "[channels.twilio] public_url must be a URL such as https://host"
        )
    return public.rstrip("/") + request.raw_path


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "bad_request", f"the body is not a readable form: {exc}") from None


def _json_fields(body: bytes) -> dict[str, str]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "bad_request", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return {str(key): str(value) for key, value in data.items() if value is not None}


# ------------------------------------------------------------------ TwiML
def voice_answer(contact_id: str, state: ContactState) -> str:
    """The TwiML for an arriving call: hold in the call's own queue, or a polite hang-up."""
    if state in CALL_WAITING:
        return twiml(("Say", HOLD_MESSAGE), ("Enqueue", contact_id))
    return twiml(("Say", REJECT_MESSAGE), ("Hangup", None))


def twiml(*verbs: tuple[str, str | None]) -> str:
    """A TwiML document of `(verb, text)` pairs; text is escaped by the XML writer."""
    root = ET.Element("Response")
    for name, text in verbs:
        ET.SubElement(root, name).text = text
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


def twiml_response(document: str) -> web.Response:
    return web.Response(text=document, content_type="text/xml")


# ----------------------------------------------------------------- config
def _channel_settings(request: web.Request, channel: str) -> Mapping[str, Any]:
    settings = request.app[CORE].config.channels.get(channel)
    return settings if isinstance(settings, Mapping) else {}


def _secret(request: web.Request, channel: str, key: str) -> str:
    """A channel's secret from its config table; 403 naming the key when it is unset."""
    value = _channel_settings(request, channel).get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(
            403,
            "forbidden",
            f"[channels.{channel}] {key} is not set in the config (or its env: variable is "
            "unset): this webhook is refused until it is",
        )
    return value
