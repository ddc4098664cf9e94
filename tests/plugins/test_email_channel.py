"""channels.email: raw e-mail (MIME) into a normalized contact, robust to whatever arrives."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.config import load_config_and_plugins
from router.config_reader import ConfigError
from router.contact_json import MAX_BODY_LENGTH, MAX_SUBJECT_LENGTH
from router.model import Contact, ModelError
from router.plugins import load_plugins
from router_plugins.channels.email import Plugin, ThreadMemory, contact_id_for, html_to_text

CONFIG = Path(__file__).resolve().parents[2] / "config" / "router.toml"
SECRETS = {
    "ROUTER_ADMIN_TOKEN": "admin",
    "META_APP_SECRET": "meta",
    "META_VERIFY_TOKEN": "verify",
    "TWILIO_AUTH_TOKEN": "twilio",
}


def message(
    body: str = "Hello,\nmy order did not arrive.\n",
    *,
    sender: str | None = "Ada Lovelace <Ada.Lovelace@Example.COM>",
    subject: str = "Where is my order?",
    message_id: str | None = "<q1@customer.example>",
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    if sender is not None:
        msg["From"] = sender
    msg["To"] = "Support <support@example.com>"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 06 May 2024 10:00:00 +0000"
    if message_id is not None:
        msg["Message-ID"] = message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def parse(
    plugin: Plugin, mime: EmailMessage | bytes | str, contact_id: str = "c-given", **envelope: Any
) -> Contact:
    raw = mime.as_bytes() if isinstance(mime, EmailMessage) else mime
    contact = plugin.router_parse_contact(
        channel="email", payload={"mime": raw, **envelope}, contact_id=contact_id
    )
    assert contact is not None
    orjson.dumps(contact.to_json())  # whatever the input, the contact can be stored and sent
    return contact


# ---------------------------------------------------------------- bodies
def test_plain_text_message() -> None:
    contact = parse(Plugin(), message(), mail_from="ada@example.com", rcpt_tos=["support@x.org"])
    assert contact.channel == "email"
    assert contact.customer.email == "ada.lovelace@example.com"
    assert contact.customer.name == "Ada Lovelace"
    assert contact.subject == "Where is my order?"
    assert contact.body == "Hello,\nmy order did not arrive."
    assert contact.thread_id == "<q1@customer.example>"
    assert contact.queue is None
    digest = hashlib.sha256(b"<q1@customer.example>").hexdigest()
    assert contact.id == "email-" + digest[:32]
    attributes = dict(contact.attributes)
    assert attributes["message_id"] == "<q1@customer.example>"
    assert attributes["in_reply_to"] is None
    assert attributes["references"] == []
    assert attributes["to"] == ["support@x.org"]  # the envelope, where the mail really went
    assert attributes["cc"] == []
    assert attributes["date"] == "Mon, 06 May 2024 10:00:00 +0000"
    assert attributes["mail_from"] == "ada@example.com"
    assert attributes["attachments"] == []
    assert "body_truncated" not in attributes


def test_to_and_cc_come_from_the_headers_without_an_envelope() -> None:
    msg = message(Cc="Bob <bob@example.com>, carol@example.com")
    contact = parse(Plugin(), msg)
    assert contact.attributes["to"] == ["support@example.com"]
    assert contact.attributes["cc"] == ["bob@example.com", "carol@example.com"]


def test_html_only_message_is_read_as_text() -> None:
    msg = message()
    msg.set_content(
        "<html><head><title>Order</title><style>p {color: red}</style></head>"
        "<body><script>alert('x')</script><h1>Order  #42</h1>"
        "<p>Hello&nbsp;team,</p><div>first line</div><div>second line</div>"
        "<ul><li>one</li><li>two</li></ul><p>Thanks &amp; regards<br>Ada</p></body></html>",
        subtype="html",
    )
    contact = parse(Plugin(), msg)
    assert contact.body.split("\n") == [
        "Order #42",
        "",
        "Hello team,",
        "",
        "first line",
        "second line",
        "",
        "- one",
        "- two",
        "",
        "Thanks & regards",
        "Ada",
    ]


def test_html_to_text_keeps_preformatted_text_and_stops_early() -> None:
    assert html_to_text("<pre>a  b\nc</pre>tail") == ("a  b\nc\n\ntail", False)
    text, cut = html_to_text("<p>" + "word " * 1000 + "</p>", limit=100)
    assert cut
    assert text.startswith("word word")


def test_multipart_alternative_prefers_the_plain_part() -> None:
    msg = message("the plain version")
    msg.add_alternative("<p>the <b>HTML</b> version</p>", subtype="html")
    contact = parse(Plugin(), msg)
    assert contact.body == "the plain version"
    assert contact.attributes["attachments"] == []  # the HTML alternative is no attachment


def test_attachments_are_described_not_kept() -> None:
    msg = message("Invoice attached.")
    pdf = b"%PDF-1.4 secret invoice bytes" * 10
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    msg.add_attachment("log line\n" * 3, filename="app.log")  # text, but a file
    msg.add_attachment(b"\x89PNG...", maintype="image", subtype="png")  # inline, no name
    contact = parse(Plugin(), msg)
    assert contact.body == "Invoice attached."
    assert contact.attributes["attachments"] == [
        {"filename": "invoice.pdf", "content_type": "application/pdf", "size": len(pdf)},
        {"filename": "app.log", "content_type": "text/plain", "size": 27},
        {"filename": None, "content_type": "image/png", "size": 7},
    ]
    assert "secret" not in orjson.dumps(contact.to_json()).decode()


def test_a_forwarded_message_is_an_attachment_not_the_body() -> None:
    forwarded = message("the original complaint", message_id="<orig@x>")
    msg = message("See the mail below.")
    msg.add_attachment(forwarded)
    contact = parse(Plugin(), msg)
    assert contact.body == "See the mail below."
    [attachment] = contact.attributes["attachments"]
    assert attachment["content_type"] == "message/rfc822"
    assert attachment["size"] > len("the original complaint")


def test_an_empty_plain_part_gives_way_to_the_html_one() -> None:
    msg = message("")
    msg.add_alternative("<p>only the <i>HTML</i> says it</p>", subtype="html")
    assert parse(Plugin(), msg).body == "only the HTML says it"


def test_encoded_word_subject_and_latin1_body() -> None:
    msg = message(subject="Grüße aus Köln: Rückerstattung")
    msg.set_content("Bitte erstatten Sie 20 € zurück.", charset="utf-8")
    latin = message("Grüße, Jürgen", subject="Grüße")
    latin.set_content("Grüße, Jürgen", charset="latin-1", cte="8bit")
    raw = latin.as_bytes()
    assert b"=?utf-8?" in msg.as_bytes()
    assert b"Gr\xfc\xdfe, J\xfcrgen" in raw  # really latin-1 on the wire
    assert parse(Plugin(), msg).subject == "Grüße aus Köln: Rückerstattung"
    assert parse(Plugin(), msg).body == "Bitte erstatten Sie 20 € zurück."
    assert parse(Plugin(), latin).body == "Grüße, Jürgen"


def test_a_latin1_encoded_word_and_an_unknown_charset() -> None:
    raw = (
        b"From: =?iso-8859-1?q?J=FCrgen?= <j@example.de>\r\n"
        b"Subject: =?iso-8859-1?q?Gr=FC=DFe?=\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n"
        b"\r\n"
        b"Gr\xfc\xdfe\r\n"
    )
    contact = parse(Plugin(), raw)
    assert contact.customer.name == "Jürgen"
    assert contact.subject == "Grüße"
    assert contact.body == "Grüße"  # not UTF-8 either: read as the likeliest 8-bit charset


def test_missing_from_uses_the_envelope_sender() -> None:
    contact = parse(Plugin(), message(sender=None), mail_from="Bounces@Example.ORG")
    assert contact.customer.email == "bounces@example.org"
    assert contact.customer.name is None


def test_no_sender_at_all_and_an_empty_body_are_fine() -> None:
    contact = parse(Plugin(), message("", sender=None, message_id=None, subject=""))
    assert (contact.id, contact.customer.email, contact.subject, contact.body) == (
        "c-given",
        None,
        "",
        "",
    )
    assert contact.thread_id is None


def test_mime_as_a_string_as_an_mqtt_gateway_publishes_it() -> None:
    raw = message("Grüße über MQTT").as_string()
    contact = parse(Plugin(), raw)
    assert contact.body == "Grüße über MQTT"
    assert contact.customer.email == "ada.lovelace@example.com"
    assert parse(Plugin(), "Subject: \ud800 lone\n\nbody").subject == "? lone"


# ---------------------------------------------------------------- threads and ids
def test_references_and_in_reply_to_keep_a_thread() -> None:
    plugin = Plugin()
    a = parse(plugin, message("A", message_id="<a@x>"))
    b = parse(plugin, message("B", message_id="<b@x>", In_Reply_To="<a@x>", References="<a@x>"))
    # C names only its parent B: the plugin saw B, whose thread is A
    c = parse(plugin, message("C", message_id="<c@x>", In_Reply_To="<b@x>"))
    assert a.thread_id == b.thread_id == c.thread_id == "<a@x>"
    assert c.attributes["in_reply_to"] == "<b@x>"
    assert b.attributes["references"] == ["<a@x>"]


def test_the_first_reference_is_the_root() -> None:
    chain = ["<root@x>"] + [f"<reply-{n}@mail.customer.example>" for n in range(8)]
    msg = message(message_id="<d@x>", In_Reply_To=chain[-1], References=" ".join(chain))
    raw = msg.as_bytes()
    assert b"References: <root@x>" in raw
    assert b"\n <reply-" in raw  # long enough to be folded over several lines
    contact = parse(Plugin(), raw)
    assert contact.thread_id == "<root@x>"
    assert contact.attributes["references"] == chain


def test_an_unseen_parent_is_the_thread() -> None:
    contact = parse(Plugin(), message(message_id="<late@x>", In_Reply_To="<never-seen@x>"))
    assert contact.thread_id == "<never-seen@x>"


def test_each_plugin_instance_has_its_own_thread_memory() -> None:
    seen, fresh = Plugin(), Plugin()
    parse(seen, message(message_id="<b@x>", References="<a@x>"))
    reply = message(message_id="<c@x>", In_Reply_To="<b@x>")
    assert parse(seen, reply).thread_id == "<a@x>"
    assert parse(fresh, reply).thread_id == "<b@x>"


def test_thread_memory_forgets_the_least_recently_used() -> None:
    memory = ThreadMemory(capacity=2)
    memory.remember("<a@x>", "<a@x>")
    memory.remember("<b@x>", "<a@x>")
    assert memory.thread_of("<a@x>") == "<a@x>"  # a is now the most recently used
    memory.remember("<c@x>", "<c@x>")
    assert len(memory) == 2
    assert memory.thread_of("<b@x>") is None
    assert memory.thread_of("<a@x>") == "<a@x>"


def test_the_same_message_id_gives_the_same_contact_id() -> None:
    plugin = Plugin()
    msg_id = make_msgid(domain="customer.example")
    first = parse(plugin, message("one", message_id=msg_id), contact_id="c-1")
    again = parse(plugin, message("one", message_id=msg_id), contact_id="c-2")
    other = parse(plugin, message("one", message_id="<other@x>"), contact_id="c-3")
    assert first.id == again.id == contact_id_for(msg_id)
    assert other.id != first.id
    assert parse(plugin, message(message_id=None), contact_id="c-4").id == "c-4"


# ---------------------------------------------------------------- limits and input
def test_an_oversize_body_and_subject_are_truncated_not_refused() -> None:
    long_body = ("0123456789" * 7 + "\n") * (MAX_BODY_LENGTH // 70 + 10)
    contact = parse(Plugin(), message(long_body, subject="S" * (MAX_SUBJECT_LENGTH + 50)))
    assert len(contact.body) == MAX_BODY_LENGTH
    assert long_body.startswith(contact.body)
    assert contact.attributes["body_truncated"] is True
    assert contact.subject == "S" * MAX_SUBJECT_LENGTH


def test_broken_headers_degrade_instead_of_failing() -> None:
    # a NUL in an RFC 2231 charset makes the stdlib's modern header parser raise
    raw = (
        b"From: Ada <ada@example.com>\r\nMessage-ID: <broken@x>\r\n"
        b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n'
        b"--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nstill readable\r\n"
        b"--zz\r\nContent-Type: image/png; name*=utf-8\x00''a.png\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!not base64!!\r\n--zz--\r\n"
    )
    contact = parse(Plugin(), raw)
    assert contact.body == "still readable"
    assert contact.customer.email == "ada@example.com"
    assert contact.id == contact_id_for("<broken@x>")
    assert [a["content_type"] for a in contact.attributes["attachments"]] == ["image/png"]


#: pieces of mail syntax, so random messages get far into the parser
MAIL_BITS = (
    b"From: ", b"Subject: ", b"Content-Type: multipart/mixed; boundary=b", b"--b", b"\r\n",
    b"=?utf-8?q?", b"?=", b"<", b">", b"@", b";", b'"', b"charset=", b"name*=", b"\xff",
    b"\xc3", b"\x00", b"text/html", b"<p>", b"base64",
)  # fmt: skip


def test_a_multipart_without_boundary_is_read_as_text() -> None:
    raw = b"From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nhello there\r\n"
    contact = parse(Plugin(), raw)
    assert contact.body == "hello there"
    assert contact.attributes["attachments"] == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(MAIL_BITS) | st.binary(max_size=8), max_size=60))
def test_arbitrary_bytes_never_raise(pieces: list[bytes]) -> None:
    contact = parse(Plugin(), b"".join(pieces))
    assert contact.channel == "email"
    assert len(contact.body) <= MAX_BODY_LENGTH


def test_a_payload_of_the_wrong_shape_is_refused_clearly() -> None:
    plugin = Plugin()
    with pytest.raises(ModelError, match="mime must be"):
        plugin.router_parse_contact(channel="email", payload={"mime": 42}, contact_id="c")
    with pytest.raises(ModelError, match="rcpt_tos"):
        plugin.router_parse_contact(
            channel="email", payload={"mime": b"", "rcpt_tos": [1]}, contact_id="c"
        )
    with pytest.raises(ModelError, match="mail_from"):
        plugin.router_parse_contact(
            channel="email", payload={"mime": b"", "mail_from": ["x"]}, contact_id="c"
        )


def test_other_payloads_are_left_to_the_other_readers() -> None:
    plugin = Plugin()
    raw = message().as_bytes()
    assert plugin.router_parse_contact("chat", {"mime": raw}, "c") is None
    assert plugin.router_parse_contact("email", {"body": "x"}, "c") is None
    plugins = load_plugins(entry_points_enabled=False)
    normalized = plugins.parse_contact("email", {"subject": "normalized", "body": "hi"}, "c-9")
    assert normalized is not None
    assert (normalized.id, normalized.subject) == ("c-9", "normalized")
    raw_mail = plugins.parse_contact("email", {"mime": raw}, "c-10")
    assert raw_mail is not None
    assert raw_mail.id == contact_id_for("<q1@customer.example>")


# ---------------------------------------------------------------- queues by recipient
def test_queues_by_recipient_sets_the_queue() -> None:
    plugin = Plugin()
    plugin.router_configure(
        options={"email": {"queues_by_recipient": {"Billing@Example.com": "billing"}}}
    )
    routed = parse(plugin, message(), rcpt_tos=["sales@example.com", "billing@EXAMPLE.com"])
    assert routed.queue == "billing"
    assert parse(plugin, message(), rcpt_tos=["sales@example.com"]).queue is None
    # without an envelope the To addresses count
    headers_only = message()
    headers_only.replace_header("To", "Billing <billing@example.com>")
    assert parse(plugin, headers_only).queue == "billing"
    plugin.router_configure(options={})
    assert parse(plugin, message(), rcpt_tos=["billing@example.com"]).queue is None


def test_queues_by_recipient_is_read_from_the_example_config() -> None:
    config, plugins = load_config_and_plugins(CONFIG, env=SECRETS)
    assert dict(config.plugins.options["email"]["queues_by_recipient"]) == {
        "billing@example.com": "billing"
    }
    contact = plugins.parse_contact(
        "email", {"mime": message().as_bytes(), "rcpt_tos": ["billing@example.com"]}, "c"
    )
    assert contact is not None
    assert contact.queue == "billing"


def test_a_bad_queue_table_is_a_config_problem(tmp_path: Path) -> None:
    written = '"billing@example.com" = "billing"'
    assert written in CONFIG.read_text(encoding="utf-8")
    config_file = tmp_path / "router.toml"
    text = CONFIG.read_text(encoding="utf-8").replace(written, '"billing@example.com" = ""')
    config_file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"plugins\.email\.queues_by_recipient"):
        load_config_and_plugins(config_file, env=SECRETS)
