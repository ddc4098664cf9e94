"""Channel plugin `meta`: WhatsApp Cloud API and Messenger webhooks as contacts.

Meta posts one JSON document per batch to one webhook URL for both products,
signed with `X-Hub-Signature-256: sha256=<hex>` (HMAC-SHA256 of the raw bytes
with the app secret; `signature_valid`). A document holds many things: the
customer's messages, but also delivery and read receipts, echoes of what the
business sent, reactions. `split_webhook` cuts it into one payload per
customer message and counts the rest, with the reason, so that the webhook
route can answer 200 (Meta retries anything else, for days) while reporting
what it could not read.

`router_parse_contact` then reads one payload:

- channel "whatsapp" (`messaging_product` == "whatsapp"): the change's value
  narrowed to one message and its sender's contact entry. Id "wa-" + the
  message id (wamid), so a redelivered webhook finds its contact again. The
  customer is linked by phone ("+" + wa_id) and by the handles `whatsapp`
  (wa_id) and `whatsapp_user` (the business-scoped user id, BSUID, which
  replaces the phone number for users who hide theirs behind a username).
- channel "messenger" (`sender` and a `message` or `postback`): one
  `messaging` item. Id "fb-" + the message id (mid); a postback has no id of
  its own in older API versions, so it is "fb-postback-{sender}-{timestamp}".
  The customer is linked by the handle `messenger` (the page-scoped id, PSID).

Contact ids keep to the alphabet the router's ids use in URLs and topics
(letters, digits, `. _ : @ -`): a base64 wamid's `+` and `/` become `-` and
`_` and its `=` padding is dropped (one-to-one for padded base64); an id that
does not fit even then is replaced by "sha256:" and a prefix of its hash.
The original id is always in `attributes["message_id"]`, for replies and
read receipts.

Options: none. The credentials live in `[channels.meta]` (`app_secret`,
`verify_token`) and are read by the webhook routes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from router import hookimpl
from router.contact_json import MAX_BODY_LENGTH, MAX_ID_LENGTH
from router.model import Contact, Customer, ModelError

WHATSAPP_OBJECT = "whatsapp_business_account"
MESSENGER_OBJECT = "page"
SIGNATURE_PREFIX = "sha256="

#: WhatsApp message types that carry a file: body "[type] caption", media in attributes
WHATSAPP_MEDIA = ("image", "video", "audio", "document", "sticker")
#: WhatsApp message types that are no customer request: counted, not routed
WHATSAPP_IGNORED_TYPES = {
    "reaction": "whatsapp reaction",
    "system": "whatsapp system notice (e.g. the user changed number)",
}
#: Messenger events that are no customer request, by their key in the messaging item
MESSENGER_IGNORED_EVENTS = ("delivery", "read", "reaction", "optin", "referral", "account_linking")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:@-]+$")
_BASE64_TO_SAFE = str.maketrans("+/", "-_")


# ---------------------------------------------------------------- signature
def signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` (`X-Hub-Signature-256`) signs `body`, compared in constant time."""
    if not app_secret or not header:
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != SIGNATURE_PREFIX[:-1] or not given:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


# --------------------------------------------------------------- splitting
@dataclass(frozen=True, slots=True)
class WebhookItems:
    """What one webhook document holds: customer messages, and what was left aside and why."""

    #: one (channel, payload) per customer message, in document order
    payloads: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    #: reason → how many items were ignored for it (receipts, echoes, ...)
    ignored: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    #: one line per malformed part, naming where it is ("entry[0].changes[1]: ...")
    errors: tuple[str, ...] = ()
    #: one line per WhatsApp message the business sent that failed to arrive
    failed_statuses: tuple[str, ...] = ()

    @property
    def ignored_count(self) -> int:
        return sum(self.ignored.values())


@dataclass(slots=True)
class _Collector:
    payloads: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def freeze(self) -> WebhookItems:
        return WebhookItems(
            payloads=tuple(self.payloads),
            ignored=MappingProxyType(dict(self.ignored)),
            errors=tuple(self.errors),
            failed_statuses=tuple(self.failed),
        )


def split_webhook(document: Any) -> WebhookItems:
    """Cut a decoded Meta webhook document into per-message payloads; never raises."""
    found = _Collector()
    if not isinstance(document, Mapping):
        found.error("the document", "must be a JSON object")
        return found.freeze()
    kind = document.get("object")
    entries = document.get("entry")
    if kind not in (WHATSAPP_OBJECT, MESSENGER_OBJECT):
        if isinstance(kind, str) and kind:
            found.ignored[f"object {kind!r} (only {WHATSAPP_OBJECT} and page are read)"] += 1
        else:
            found.error("object", f"must be {WHATSAPP_OBJECT!r} or 'page'")
        return found.freeze()
    if not isinstance(entries, list):
        found.error("entry", "must be a list")
        return found.freeze()
    for index, entry in enumerate(entries):
        where = f"entry[{index}]"
        if not isinstance(entry, Mapping):
            found.error(where, "must be an object")
        elif kind == WHATSAPP_OBJECT:
            _split_whatsapp(entry, where, found)
        else:
            _split_messenger(entry, where, found)
    return found.freeze()


def _split_whatsapp(entry: Mapping[str, Any], where: str, found: _Collector) -> None:
    changes = entry.get("changes")
    if not isinstance(changes, list):
        found.error(f"{where}.changes", "must be a list")
        return
    for index, change in enumerate(changes):
        at = f"{where}.changes[{index}]"
        if not isinstance(change, Mapping):
            found.error(at, "must be an object")
            continue
        if change.get("field") != "messages":
            found.ignored[f"whatsapp field {change.get('field')!r}"] += 1
            continue
        value = change.get("value")
        if not isinstance(value, Mapping):
            found.error(f"{at}.value", "must be an object")
            continue
        if value.get("messaging_product") != "whatsapp":
            found.error(f"{at}.value.messaging_product", "must be 'whatsapp'")
            continue
        messages = _list(value, "messages", f"{at}.value", found)
        statuses = _list(value, "statuses", f"{at}.value", found)
        if messages is None or statuses is None:
            continue
        if not messages and not statuses:
            found.ignored["whatsapp change without messages or statuses"] += 1
        for number, message in enumerate(messages):
            _add_whatsapp_message(value, message, f"{at}.value.messages[{number}]", found)
        for number, status in enumerate(statuses):
            _add_whatsapp_status(status, f"{at}.value.statuses[{number}]", found)


def _add_whatsapp_message(
    value: Mapping[str, Any], message: Any, where: str, found: _Collector
) -> None:
    if not isinstance(message, Mapping):
        found.error(where, "must be an object")
        return
    kind = message.get("type")
    ignored = WHATSAPP_IGNORED_TYPES.get(kind) if isinstance(kind, str) else None
    if ignored is not None:
        found.ignored[ignored] += 1
        return
    narrowed = {
        key: item for key, item in value.items() if key not in ("messages", "statuses", "contacts")
    }
    sender = _whatsapp_sender(value.get("contacts"), message)
    narrowed["contacts"] = [sender] if sender is not None else []
    narrowed["messages"] = [message]
    found.payloads.append(("whatsapp", narrowed))


def _whatsapp_sender(contacts: Any, message: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `contacts` entry of the message's sender: by wa_id or BSUID, else the only one."""
    if not isinstance(contacts, list):
        return None
    entries = [c for c in contacts if isinstance(c, Mapping)]
    for contact in entries:
        wa_id, user_id = contact.get("wa_id"), contact.get("user_id")
        if (wa_id is not None and wa_id == message.get("from")) or (
            user_id is not None and user_id == message.get("from_user_id")
        ):
            return contact
    return entries[0] if len(entries) == 1 else None


def _add_whatsapp_status(status: Any, where: str, found: _Collector) -> None:
    if not isinstance(status, Mapping):
        found.error(where, "must be an object")
        return
    state = status.get("status")
    found.ignored[f"whatsapp status {state}"] += 1
    if state == "failed":
        reasons = [
            f"{error.get('code')} {error.get('title') or error.get('message') or ''}".strip()
            for error in status.get("errors") or []
            if isinstance(error, Mapping)
        ]
        recipient = status.get("recipient_id") or status.get("recipient_user_id")
        found.failed.append(
            f"message {status.get('id')} to {recipient} failed: "
            + ("; ".join(reasons) or "no reason given")
        )


def _split_messenger(entry: Mapping[str, Any], where: str, found: _Collector) -> None:
    messaging = entry.get("messaging")
    if messaging is None:
        # standby: another app of the page owns the thread (handover protocol)
        for aside in ("standby", "changes"):
            if isinstance(entry.get(aside), list):
                found.ignored[f"messenger {aside}"] += len(entry[aside])
                return
        found.error(where, "has no messaging list")
        return
    if not isinstance(messaging, list):
        found.error(f"{where}.messaging", "must be a list")
        return
    for index, item in enumerate(messaging):
        at = f"{where}.messaging[{index}]"
        if not isinstance(item, Mapping):
            found.error(at, "must be an object")
            continue
        if "message" in item or "postback" in item:
            kind = "message" if "message" in item else "postback"
            event = item[kind]
            sender = item.get("sender")
            if not isinstance(event, Mapping):
                found.error(f"{at}.{kind}", "must be an object")
            elif not isinstance(sender, Mapping) or not isinstance(sender.get("id"), str):
                found.error(f"{at}.sender.id", "is missing")
            elif kind == "message" and event.get("is_echo"):
                found.ignored["messenger echo (sent by the page)"] += 1
            else:
                found.payloads.append(("messenger", item))
            continue
        other = next((key for key in MESSENGER_IGNORED_EVENTS if key in item), None)
        found.ignored[f"messenger {other or 'event of another kind'}"] += 1


def _list(value: Mapping[str, Any], key: str, where: str, found: _Collector) -> list[Any] | None:
    items = value.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        found.error(f"{where}.{key}", "must be a list")
        return None
    return items


# ------------------------------------------------------------------ parsing
@hookimpl
def router_parse_contact(
    channel: str, payload: Mapping[str, Any], contact_id: str
) -> Contact | None:
    if channel == "whatsapp" and payload.get("messaging_product") == "whatsapp":
        return whatsapp_contact(payload)
    if (
        channel == "messenger"
        and "sender" in payload
        and ("message" in payload or "postback" in payload)
    ):
        return messenger_contact(payload)
    return None


def whatsapp_contact(payload: Mapping[str, Any]) -> Contact:
    """One WhatsApp message (a change's value narrowed to it) as a `whatsapp` contact."""
    messages = payload.get("messages")
    if not isinstance(messages, list) or len(messages) != 1:
        raise ModelError("a WhatsApp payload must hold exactly one message in 'messages'")
    message = _object(messages[0], "messages[0]")
    message_id = _string(message, "id", "messages[0]")
    sender = _whatsapp_sender(payload.get("contacts"), message) or {}
    wa_id = _optional_string(message, "from", "messages[0]") or _optional_string(
        sender, "wa_id", "contacts[0]"
    )
    user_id = _optional_string(message, "from_user_id", "messages[0]") or _optional_string(
        sender, "user_id", "contacts[0]"
    )
    if not wa_id and not user_id:
        raise ModelError("messages[0] names no sender: neither 'from' nor 'from_user_id'")
    profile = sender.get("profile")
    profile = profile if isinstance(profile, Mapping) else {}
    body, attributes = whatsapp_body(message)
    metadata = payload.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    attributes.update(
        _present(
            message_id=message_id,
            timestamp=message.get("timestamp"),
            phone_number_id=metadata.get("phone_number_id"),
            display_phone_number=metadata.get("display_phone_number"),
            username=profile.get("username"),
        )
    )
    context = message.get("context")
    if isinstance(context, Mapping) and isinstance(context.get("id"), str):
        attributes["reply_to"] = context["id"]
    if isinstance(message.get("referral"), Mapping):
        attributes["referral"] = dict(message["referral"])
    handles = _present(whatsapp=wa_id, whatsapp_user=user_id)
    name = profile.get("name")
    customer = Customer(
        name=name if isinstance(name, str) and name else None,
        phone="+" + wa_id if wa_id and wa_id.isdigit() else None,
        handles=MappingProxyType(handles),
    )
    return Contact(
        id=safe_contact_id("wa-", message_id),
        channel="whatsapp",
        customer=customer,
        body=_limited(body),
        thread_id=f"whatsapp:{wa_id or user_id}",
        attributes=MappingProxyType(attributes),
    )


def whatsapp_body(message: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The text an agent reads for a WhatsApp message, and what else it carries."""
    kind = _string(message, "type", "messages[0]")
    attributes: dict[str, Any] = {"type": kind}
    part = message.get(kind)
    details = part if isinstance(part, Mapping) else {}
    if kind == "text":
        return _string(_object(part, "messages[0].text"), "body", "messages[0].text"), attributes
    if kind in WHATSAPP_MEDIA:
        attributes.update(
            _present(
                media_id=details.get("id"),
                mime_type=details.get("mime_type"),
                caption=details.get("caption"),
                filename=details.get("filename"),
            )
        )
        label = details.get("caption") or details.get("filename") or ""
        return f"[{kind}] {label}".rstrip(), attributes
    if kind == "location":
        latitude, longitude = details.get("latitude"), details.get("longitude")
        attributes.update(
            _present(
                latitude=latitude,
                longitude=longitude,
                name=details.get("name"),
                address=details.get("address"),
            )
        )
        place = ", ".join(str(details[k]) for k in ("name", "address") if details.get(k))
        where = f"{latitude},{longitude}" if latitude is not None and longitude is not None else ""
        return " ".join(x for x in ("[location]", place, where) if x), attributes
    if kind == "contacts":
        cards = part if isinstance(part, list) else []
        attributes["contacts"] = cards
        names = [
            card["name"]["formatted_name"]
            for card in cards
            if isinstance(card, Mapping)
            and isinstance(card.get("name"), Mapping)
            and isinstance(card["name"].get("formatted_name"), str)
        ]
        return " ".join(["[contact card]", ", ".join(names)]).rstrip(), attributes
    if kind == "interactive":
        reply_kind = details.get("type")
        reply = details.get(reply_kind) if isinstance(reply_kind, str) else None
        attributes["interactive_type"] = reply_kind
        if isinstance(reply, Mapping) and isinstance(reply.get("title"), str):
            attributes.update(
                _present(reply_id=reply.get("id"), description=reply.get("description"))
            )
            return reply["title"], attributes
        return f"[interactive {reply_kind}]" if reply_kind else "[interactive]", attributes
    if kind == "button":
        attributes.update(_present(payload=details.get("payload")))
        text = details.get("text")
        return (text if isinstance(text, str) and text else "[button]"), attributes
    if kind == "reaction":
        attributes.update(
            _present(emoji=details.get("emoji"), reacted_to=details.get("message_id"))
        )
        return f"[reaction] {details.get('emoji') or ''}".rstrip(), attributes
    return f"[{kind}]", attributes


def messenger_contact(payload: Mapping[str, Any]) -> Contact:
    """One Messenger `messaging` item (a message or a postback) as a `messenger` contact."""
    sender = _object(payload.get("sender"), "sender")
    psid = _string(sender, "id", "sender")
    recipient = payload.get("recipient")
    attributes: dict[str, Any] = _present(
        page_id=recipient.get("id") if isinstance(recipient, Mapping) else None,
        timestamp=payload.get("timestamp"),
    )
    if "message" in payload:
        message = _object(payload["message"], "message")
        mid = _string(message, "mid", "message")
        body = _messenger_message(message, attributes)
        attributes["message_id"] = mid
        contact_id = safe_contact_id("fb-", mid)
    else:
        postback = _object(payload["postback"], "postback")
        timestamp = payload.get("timestamp")
        if isinstance(timestamp, bool) or not isinstance(timestamp, int | str) or timestamp == "":
            raise ModelError("a Messenger postback needs its 'timestamp' (its id is made of it)")
        title = _optional_string(postback, "title", "postback")
        body = title or "[postback]"
        attributes["type"] = "postback"
        attributes.update(_present(payload=postback.get("payload"), message_id=postback.get("mid")))
        contact_id = safe_contact_id("fb-postback-", f"{psid}-{timestamp}")
    return Contact(
        id=contact_id,
        channel="messenger",
        customer=Customer(handles=MappingProxyType({"messenger": psid})),
        body=_limited(body),
        thread_id=f"messenger:{psid}",
        attributes=MappingProxyType(attributes),
    )


def _messenger_message(message: Mapping[str, Any], attributes: dict[str, Any]) -> str:
    attachments = message.get("attachments")
    kinds: list[str] = []
    if isinstance(attachments, list):
        described = []
        for attachment in attachments:
            if not isinstance(attachment, Mapping):
                continue
            kind = str(attachment.get("type") or "unknown")
            kinds.append(kind)
            content = attachment.get("payload")
            content = content if isinstance(content, Mapping) else {}
            described.append(
                _present(
                    type=kind,
                    url=content.get("url"),
                    title=attachment.get("title"),
                    sticker_id=content.get("sticker_id"),
                )
            )
        if described:
            attributes["attachments"] = described
    quick_reply = message.get("quick_reply")
    if isinstance(quick_reply, Mapping):
        attributes.update(_present(quick_reply=quick_reply.get("payload")))
    reply_to = message.get("reply_to")
    if isinstance(reply_to, Mapping):
        attributes.update(_present(reply_to=reply_to.get("mid")))
    text = _optional_string(message, "text", "message")
    attributes["type"] = "text" if text else "attachment" if kinds else "message"
    if text:
        return text
    return " ".join(f"[attachment: {kind}]" for kind in kinds) or "[message]"


# ------------------------------------------------------------------ helpers
def safe_contact_id(prefix: str, raw: str) -> str:
    """`prefix` + `raw`, kept to the router's id alphabet (see the module docstring)."""
    if _SAFE_ID.match(raw) and len(prefix) + len(raw) <= MAX_ID_LENGTH:
        return prefix + raw
    mapped = raw.rstrip("=").translate(_BASE64_TO_SAFE)
    # one-to-one for padded base64 (wamids): it never holds - or _, and its padding
    # is fixed by its length; anything else that does not fit is hashed
    fits = _SAFE_ID.match(mapped) and len(prefix) + len(mapped) <= MAX_ID_LENGTH
    if fits and not any(c in raw for c in "-_"):
        return prefix + mapped
    return f"{prefix}sha256:{hashlib.sha256(raw.encode()).hexdigest()[:40]}"


def _present(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None and value != ""}


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ModelError(f"{where} must be an object")
    return value


def _string(value: Mapping[str, Any], key: str, where: str) -> str:
    item = value.get(key)
    if not isinstance(item, str) or not item:
        raise ModelError(f"{where}.{key} must be a non-empty string")
    return item


def _optional_string(value: Mapping[str, Any], key: str, where: str) -> str | None:
    item = value.get(key)
    if item is None or item == "":
        return None
    if not isinstance(item, str):
        raise ModelError(f"{where}.{key} must be a string")
    return item


def _limited(body: str) -> str:
    if len(body) > MAX_BODY_LENGTH:
        raise ModelError(f"the message must be at most {MAX_BODY_LENGTH:,} characters")
    return body
