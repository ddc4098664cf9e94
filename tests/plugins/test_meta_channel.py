"""channels.meta: Meta's webhook signature, splitting a webhook, reading WhatsApp and Messenger.

Expected signatures are computed here from Meta's description (HMAC-SHA256
of the raw request bytes with the app secret, hex, after "sha256="), not with
the module's own function. Payloads follow the shapes of Meta's webhook
reference pages.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

import pytest

from router.model import ModelError
from router.plugins import load_plugins
from router_plugins.channels import meta

WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
PSID = "6254181434597235"
PAGE_ID = "1234567890"


def meta_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def whatsapp_document(*messages: dict[str, Any], statuses: list[Any] | None = None) -> Any:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
    }
    if messages:
        value["contacts"] = [
            {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"},
            {"profile": {"name": "Other Person"}, "wa_id": "447700900999"},
        ]
        value["messages"] = list(messages)
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def wa_message(kind: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {
        "from": "16505551234",
        "id": WAMID,
        "timestamp": "1749416383",
        "type": kind,
        kind: content,
        **extra,
    }


def text_message(body: str = "Does it come in another color?", **extra: Any) -> dict[str, Any]:
    return wa_message("text", {"body": body}, **extra)


def messenger_document(*items: dict[str, Any]) -> Any:
    return {
        "object": "page",
        "entry": [{"id": PAGE_ID, "time": 1458692752478, "messaging": list(items)}],
    }


def fb_item(**event: Any) -> dict[str, Any]:
    return {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1762902671000,
        **event,
    }


def read_whatsapp(message: dict[str, Any]) -> Any:
    items = meta.split_webhook(whatsapp_document(message))
    assert len(items.payloads) == 1
    channel, payload = items.payloads[0]
    contact = meta.router_parse_contact(channel=channel, payload=payload, contact_id="c")
    assert contact is not None
    return contact


# -------------------------------------------------------------- signature
def test_signature_of_the_raw_bytes() -> None:
    body = b'{"object":"page","entry":[]}'
    header = meta_signature("app-secret", body)
    assert meta.signature_valid("app-secret", body, header)
    assert meta.signature_valid("app-secret", body, header.upper().replace("SHA256=", "sha256="))


def test_a_known_hmac_sha256_vector() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    header = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert meta.signature_valid("Jefe", b"what do ya want for nothing?", header)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + hmac.new(b"app-secret", b"{}", hashlib.sha1).hexdigest(),
        meta_signature("other-secret", b"{}"),
        meta_signature("app-secret", b"{} "),  # signed other bytes
        hmac.new(b"app-secret", b"{}", hashlib.sha256).hexdigest(),  # no "sha256=" prefix
        "sha256=ünïcode",
    ],
)
def test_a_wrong_signature_is_refused(header: str | None) -> None:
    assert not meta.signature_valid("app-secret", b"{}", header)


def test_no_secret_refuses_everything() -> None:
    assert not meta.signature_valid("", b"{}", meta_signature("", b"{}"))


# ------------------------------------------------------------ splitting
def test_each_whatsapp_message_becomes_one_payload_with_its_own_contact() -> None:
    second = text_message("second", id="wamid.two")
    second["from"] = "447700900999"
    items = meta.split_webhook(whatsapp_document(text_message(), second))
    assert [channel for channel, _ in items.payloads] == ["whatsapp", "whatsapp"]
    first_payload, second_payload = (payload for _, payload in items.payloads)
    assert first_payload["messages"] == [text_message()]
    assert first_payload["contacts"] == [
        {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}
    ]
    assert second_payload["contacts"][0]["wa_id"] == "447700900999"
    assert first_payload["metadata"]["phone_number_id"] == "106540352242922"
    assert items.ignored_count == 0
    assert items.errors == ()


def test_whatsapp_statuses_are_counted_and_failures_described() -> None:
    statuses = [
        {"id": "wamid.a", "status": "sent", "recipient_id": "16505551234"},
        {"id": "wamid.a", "status": "delivered", "recipient_id": "16505551234"},
        {"id": "wamid.a", "status": "read", "recipient_id": "16505551234"},
        {
            "id": "wamid.b",
            "status": "failed",
            "recipient_id": "16505551234",
            "errors": [{"code": 131047, "title": "Re-engagement message"}],
        },
    ]
    items = meta.split_webhook(whatsapp_document(statuses=statuses))
    assert items.payloads == ()
    assert items.ignored_count == 4
    assert items.ignored["whatsapp status failed"] == 1
    assert items.failed_statuses == (
        "message wamid.b to 16505551234 failed: 131047 Re-engagement message",
    )


def test_whatsapp_reactions_and_system_notices_are_not_contacts() -> None:
    reaction = wa_message("reaction", {"message_id": "wamid.x", "emoji": "👍"})
    system = wa_message("system", {"body": "User changed number", "type": "user_changed_number"})
    items = meta.split_webhook(whatsapp_document(reaction, system, text_message()))
    assert len(items.payloads) == 1
    assert items.ignored_count == 2


def test_other_whatsapp_fields_are_ignored() -> None:
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {}}]}],
    }
    items = meta.split_webhook(document)
    assert items.payloads == ()
    assert items.ignored == {"whatsapp field 'account_update'": 1}


def test_messenger_messages_and_postbacks_are_payloads_the_rest_is_ignored() -> None:
    message = fb_item(message={"mid": "m_1", "text": "hello"})
    postback = fb_item(postback={"title": "Get Started", "payload": "GET_STARTED"})
    echo = fb_item(message={"mid": "m_2", "text": "we replied", "is_echo": True})
    delivery = fb_item(delivery={"mids": ["m_2"], "watermark": 1})
    read = fb_item(read={"watermark": 1})
    reaction = fb_item(reaction={"mid": "m_2", "action": "react", "emoji": "❤"})
    items = meta.split_webhook(
        messenger_document(message, echo, postback, delivery, read, reaction)
    )
    assert items.payloads == (("messenger", message), ("messenger", postback))
    assert items.ignored_count == 4
    assert items.ignored["messenger echo (sent by the page)"] == 1
    assert items.ignored["messenger delivery"] == 1
    assert items.ignored["messenger read"] == 1
    assert items.ignored["messenger reaction"] == 1
    assert items.errors == ()


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ([], "the document: must be a JSON object"),
        ("text", "the document: must be a JSON object"),
        ({"entry": []}, "object: must be"),
        ({"object": "page", "entry": {}}, "entry: must be a list"),
        ({"object": "page", "entry": ["x"]}, "entry[0]: must be an object"),
        ({"object": "page", "entry": [{"id": "1"}]}, "entry[0]: has no messaging list"),
        ({"object": "page", "entry": [{"messaging": [5]}]}, "entry[0].messaging[0]: must be"),
        (
            {"object": "page", "entry": [{"messaging": [{"message": {"mid": "m", "text": "x"}}]}]},
            "entry[0].messaging[0].sender.id: is missing",
        ),
        (
            messenger_document(fb_item(message="hello")),
            "entry[0].messaging[0].message: must be an object",
        ),
        (
            {"object": "whatsapp_business_account", "entry": [{"changes": "x"}]},
            "entry[0].changes: must be a list",
        ),
        (
            {
                "object": "whatsapp_business_account",
                "entry": [{"changes": [{"field": "messages", "value": []}]}],
            },
            "entry[0].changes[0].value: must be an object",
        ),
        (
            {
                "object": "whatsapp_business_account",
                "entry": [{"changes": [{"field": "messages", "value": {"messages": []}}]}],
            },
            "messaging_product: must be 'whatsapp'",
        ),
    ],
)
def test_malformed_documents_are_reported_not_raised(document: Any, error: str) -> None:
    items = meta.split_webhook(document)
    assert items.payloads == ()
    assert len(items.errors) == 1
    assert error in items.errors[0]


def test_one_bad_message_does_not_hide_the_good_ones() -> None:
    document = whatsapp_document(text_message())
    document["entry"][0]["changes"][0]["value"]["messages"].insert(0, "garbage")
    items = meta.split_webhook(document)
    assert len(items.payloads) == 1
    assert items.errors == ("entry[0].changes[0].value.messages[0]: must be an object",)


def test_another_object_is_ignored_with_its_name() -> None:
    items = meta.split_webhook({"object": "instagram", "entry": []})
    assert items.payloads == ()
    assert items.errors == ()
    assert items.ignored_count == 1


# ---------------------------------------------------------- WhatsApp reading
def test_a_whatsapp_text_message() -> None:
    contact = read_whatsapp(text_message())
    assert contact.channel == "whatsapp"
    # base64's + and / and its padding do not fit the router's ids; the rest is kept
    assert contact.id == "wa-wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA"
    assert contact.attributes["message_id"] == WAMID
    assert contact.body == "Does it come in another color?"
    assert contact.customer.phone == "+16505551234"
    assert contact.customer.name == "Sheena Nelson"
    assert dict(contact.customer.handles) == {"whatsapp": "16505551234"}
    assert contact.thread_id == "whatsapp:16505551234"
    assert contact.attributes["type"] == "text"
    assert contact.attributes["phone_number_id"] == "106540352242922"


def test_ids_with_slashes_and_plus_signs_stay_distinct_and_safe() -> None:
    slash = meta.safe_contact_id("wa-", "wamid.ab/c+d==")
    assert slash == "wa-wamid.ab_c-d"
    assert meta.safe_contact_id("wa-", "wamid.ab+c/d==") != slash
    hashed = meta.safe_contact_id("fb-", "m_a/b c")
    assert hashed.startswith("fb-sha256:")
    assert hashed == meta.safe_contact_id("fb-", "m_a/b c")
    assert meta.safe_contact_id("fb-", "m_already-safe") == "fb-m_already-safe"


@pytest.mark.parametrize(
    ("kind", "content", "body", "attributes"),
    [
        (
            "image",
            {"caption": "the broken part", "mime_type": "image/jpeg", "sha256": "x", "id": "111"},
            "[image] the broken part",
            {"media_id": "111", "mime_type": "image/jpeg", "caption": "the broken part"},
        ),
        (
            "document",
            {"filename": "invoice.pdf", "mime_type": "application/pdf", "id": "222"},
            "[document] invoice.pdf",
            {"media_id": "222", "mime_type": "application/pdf", "filename": "invoice.pdf"},
        ),
        (
            "audio",
            {"mime_type": "audio/ogg; codecs=opus", "id": "333", "voice": True},
            "[audio]",
            {"media_id": "333", "mime_type": "audio/ogg; codecs=opus"},
        ),
        ("video", {"id": "444", "mime_type": "video/mp4"}, "[video]", {"media_id": "444"}),
        ("sticker", {"id": "555", "mime_type": "image/webp"}, "[sticker]", {"media_id": "555"}),
        (
            "location",
            {"latitude": 51.5, "longitude": -0.12, "name": "Head office", "address": "1 Main St"},
            "[location] Head office, 1 Main St 51.5,-0.12",
            {"latitude": 51.5, "longitude": -0.12, "name": "Head office"},
        ),
        (
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Yes, cancel"}},
            "Yes, cancel",
            {"interactive_type": "button_reply", "reply_id": "yes-1"},
        ),
        (
            "interactive",
            {
                "type": "list_reply",
                "list_reply": {"id": "r2", "title": "Billing", "description": "Invoices"},
            },
            "Billing",
            {"interactive_type": "list_reply", "reply_id": "r2", "description": "Invoices"},
        ),
        (
            "button",
            {"payload": "STOP_PROMOS", "text": "Stop promotions"},
            "Stop promotions",
            {"payload": "STOP_PROMOS"},
        ),
        ("order", {"catalog_id": "1"}, "[order]", {}),
        ("unsupported", None, "[unsupported]", {}),
    ],
)
def test_whatsapp_message_kinds(
    kind: str, content: Any, body: str, attributes: dict[str, Any]
) -> None:
    contact = read_whatsapp(wa_message(kind, content))
    assert contact.body == body
    assert contact.attributes["type"] == kind
    for key, value in attributes.items():
        assert contact.attributes[key] == value


def test_a_shared_contact_card() -> None:
    cards = [{"name": {"formatted_name": "John Smith"}, "phones": [{"phone": "+1 555"}]}]
    message = {"from": "16505551234", "id": "wamid.c", "type": "contacts", "contacts": cards}
    contact = read_whatsapp(message)
    assert contact.body == "[contact card] John Smith"
    assert contact.attributes["contacts"] == cards


def test_a_reply_and_an_ad_referral_are_kept() -> None:
    message = text_message(
        context={"from": "15550783881", "id": "wamid.prev"},
        referral={"source_type": "ad", "source_id": "42"},
    )
    contact = read_whatsapp(message)
    assert contact.attributes["reply_to"] == "wamid.prev"
    assert contact.attributes["referral"] == {"source_type": "ad", "source_id": "42"}


def test_a_user_with_a_username_is_known_by_business_scoped_id() -> None:
    message = text_message()
    del message["from"]
    message["from_user_id"] = "US.13491208655302741918"
    document = whatsapp_document(message)
    document["entry"][0]["changes"][0]["value"]["contacts"] = [
        {"profile": {"name": "Bob", "username": "@bob"}, "user_id": "US.13491208655302741918"}
    ]
    items = meta.split_webhook(document)
    contact = meta.whatsapp_contact(items.payloads[0][1])
    assert contact.customer.phone is None
    assert contact.customer.name == "Bob"
    assert dict(contact.customer.handles) == {"whatsapp_user": "US.13491208655302741918"}
    assert contact.thread_id == "whatsapp:US.13491208655302741918"
    assert contact.attributes["username"] == "@bob"


def test_both_ids_link_the_customer_when_both_are_given() -> None:
    contact = read_whatsapp(text_message(from_user_id="US.1"))
    assert dict(contact.customer.handles) == {"whatsapp": "16505551234", "whatsapp_user": "US.1"}
    assert "phone:+16505551234" in contact.customer.identities()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(messages=[]), "exactly one message"),
        (lambda p: p["messages"][0].pop("id"), r"messages\[0\].id must be"),
        (lambda p: p["messages"][0].pop("from"), "names no sender"),
        (lambda p: p["messages"][0].update(text="hi"), r"messages\[0\].text must be an object"),
        (lambda p: p["messages"][0].pop("type"), r"messages\[0\].type must be"),
    ],
)
def test_an_unreadable_whatsapp_payload_is_a_model_error(change: Any, message: str) -> None:
    payload = copy.deepcopy(
        dict(meta.split_webhook(whatsapp_document(text_message())).payloads[0][1])
    )
    payload["contacts"] = []
    change(payload)
    with pytest.raises(ModelError, match=message):
        meta.router_parse_contact(channel="whatsapp", payload=payload, contact_id="c")


# --------------------------------------------------------- Messenger reading
def test_a_messenger_text_message() -> None:
    item = fb_item(message={"mid": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM", "text": "hello, world!"})
    contact = meta.router_parse_contact(channel="messenger", payload=item, contact_id="c")
    assert contact is not None
    assert contact.id == "fb-m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM"
    assert contact.channel == "messenger"
    assert contact.body == "hello, world!"
    assert dict(contact.customer.handles) == {"messenger": PSID}
    assert contact.customer.identities() == (f"messenger:{PSID}",)
    assert contact.thread_id == f"messenger:{PSID}"
    assert contact.attributes["page_id"] == PAGE_ID
    assert contact.attributes["message_id"] == "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM"


def test_messenger_attachments() -> None:
    attachments = [
        {"type": "image", "payload": {"url": "https://cdn.example/1.jpg"}},
        {"type": "file", "payload": {"url": "https://cdn.example/2.pdf"}},
    ]
    item = fb_item(message={"mid": "m_2", "attachments": attachments})
    contact = meta.messenger_contact(item)
    assert contact.body == "[attachment: image] [attachment: file]"
    assert contact.attributes["attachments"] == [
        {"type": "image", "url": "https://cdn.example/1.jpg"},
        {"type": "file", "url": "https://cdn.example/2.pdf"},
    ]
    assert contact.attributes["type"] == "attachment"


def test_a_quick_reply_and_a_reply_to() -> None:
    message = {
        "mid": "m_3",
        "text": "Red",
        "quick_reply": {"payload": "COLOR_RED"},
        "reply_to": {"mid": "m_1"},
    }
    contact = meta.messenger_contact(fb_item(message=message))
    assert contact.attributes["quick_reply"] == "COLOR_RED"
    assert contact.attributes["reply_to"] == "m_1"


def test_a_messenger_postback() -> None:
    item = fb_item(postback={"title": "Talk to a human", "payload": "HUMAN"})
    contact = meta.router_parse_contact(channel="messenger", payload=item, contact_id="c")
    assert contact is not None
    assert contact.id == f"fb-postback-{PSID}-1762902671000"
    assert contact.body == "Talk to a human"
    assert contact.attributes["payload"] == "HUMAN"
    assert contact.attributes["type"] == "postback"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (fb_item(message={"text": "no mid"}), "message.mid must be"),
        ({"sender": {}, "message": {"mid": "m", "text": "x"}}, "sender.id must be"),
        ({"sender": {"id": PSID}, "postback": {"title": "x"}}, "timestamp"),
        (fb_item(message={"mid": "m", "text": 5}), "message.text must be a string"),
    ],
)
def test_an_unreadable_messenger_item_is_a_model_error(item: Any, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        meta.router_parse_contact(channel="messenger", payload=item, contact_id="c")


# -------------------------------------------------------------- not ours
def test_other_payloads_are_left_to_other_plugins() -> None:
    assert (
        meta.router_parse_contact(channel="whatsapp", payload={"body": "x"}, contact_id="c") is None
    )
    assert meta.router_parse_contact(channel="chat", payload=fb_item(), contact_id="c") is None
    assert (
        meta.router_parse_contact(channel="messenger", payload=fb_item(read={}), contact_id="c")
        is None
    )


def test_through_the_plugin_manager() -> None:
    plugins = load_plugins(entry_points_enabled=False)
    items = meta.split_webhook(whatsapp_document(text_message()))
    contact = plugins.parse_contact(*items.payloads[0], "c-1")
    assert contact is not None
    assert contact.id.startswith("wa-wamid.")
    fallback = plugins.parse_contact("whatsapp", {"body": "normalized"}, "c-2")
    assert fallback is not None
    assert fallback.id == "c-2"
