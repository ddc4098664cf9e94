"""Channel plugin `email`: a raw e-mail (RFC 5322 / MIME) as a normalized contact.

The SMTP server (`router.runtime.smtp`) and e-mail gateways publishing on
`router/contacts/in/email` hand over the message as it came off the wire:
`{"mime": bytes or str, "mail_from": "...", "rcpt_tos": [...]}` (the SMTP
envelope is optional). A payload of channel `email` without `mime` is not
this plugin's: the `normalized` reader takes it.

Mail comes from anyone, so reading never trusts it: a bad charset, a broken
header or an undecodable part degrades to the best text we can get, never to
an exception. What the contact gets:

- `customer`: the From address (lower-cased) and display name; the envelope
  sender when the message has no usable From.
- `subject` and `body`, truncated to `router.contact_json`'s limits (never
  refused; `attributes["body_truncated"]` says so). The body is the text/plain
  part, else the text/html part read as text.
- attachments are not kept: `attributes["attachments"]` lists their
  `filename`, `content_type` and decoded `size`.
- `thread_id`: the conversation's root Message-ID. That is the first id of
  `References`; else, for an `In-Reply-To`, the parent's thread when this
  plugin saw the parent (a bounded memory, per plugin instance), else the
  parent's id; else the message's own id.
- `id`: "email-" + 32 hex digits of the SHA-256 of the Message-ID, so a
  sender retrying the same message does not create a second contact (the
  engine is idempotent on ids); the caller's id when there is no Message-ID.
- `attributes` also: `message_id`, `in_reply_to`, `references`, `to` (the
  envelope recipients, else the To addresses), `cc`, `date`, `mail_from`.
  Lists are bounded (100 references, addresses and attachments; a message
  with more attachments says how many in `attachments_not_listed`).

Options (`[plugins.email]`):

- `queues_by_recipient` (table of address → queue name, {}): the queue of a
  message sent to that address, e.g. `{"billing@example.com" = "billing"}`.
  The first recipient (envelope recipients, else To) found in the table sets
  `Contact.queue`; addresses compare without case.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.headerregistry import AddressHeader, BaseHeader
from email.message import Message
from email.utils import getaddresses
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any, TypeVar

from router import hookimpl
from router.contact_json import MAX_BODY_LENGTH, MAX_ID_LENGTH, MAX_SUBJECT_LENGTH
from router.model import EMPTY_MAPPING, Contact, Customer, ModelError
from router.plugin_api import PluginOption
from router_plugins._options import section

log = logging.getLogger("router.plugins.email")

NAME = CHANNEL = "email"
#: message ids remembered for threading; the oldest unused are forgotten first
THREAD_MEMORY = 100_000
#: attachments described in the attributes; a message with more says how many it left out
MAX_ATTACHMENTS_LISTED = 100
#: ids kept from `References` (the root is the first, kept whatever the count)
MAX_REFERENCES = 100
#: addresses kept per header (To, Cc) or envelope; an address is at most 254 characters
MAX_ADDRESSES = 100
MAX_ADDRESS_LENGTH = 254
#: display names and dates are cut to this
MAX_TEXT_LENGTH = 200
#: HTML read to find the body: more markup than this is cut (the text is truncated anyway)
MAX_HTML_CHARS = 20 * MAX_BODY_LENGTH

_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_WHITESPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[^>]*>")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Settings:
    #: lower-cased recipient address → queue name
    queues_by_recipient: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAPPING)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope, when the payload has one."""

    mail_from: str | None = None
    rcpt_tos: tuple[str, ...] = ()


class ThreadMemory:
    """A bounded LRU map: message id → thread id of the messages seen so far.

    Locked: the SMTP server reads messages in a worker thread (a large one
    takes a while), while a gateway's messages are read on the event loop.
    """

    def __init__(self, capacity: int = THREAD_MEMORY) -> None:
        self.capacity = capacity
        self._threads: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._threads)

    def thread_of(self, message_id: str) -> str | None:
        with self._lock:
            thread = self._threads.get(message_id)
            if thread is not None:
                self._threads.move_to_end(message_id)
            return thread

    def remember(self, message_id: str, thread_id: str) -> None:
        with self._lock:
            self._threads[message_id] = thread_id
            self._threads.move_to_end(message_id)
            while len(self._threads) > self.capacity:
                self._threads.popitem(last=False)


class Plugin:
    """One per plugin manager: settings from `router_configure`, and the thread memory.

    The memory is kept across config reloads: threads do not change with the config.
    """

    def __init__(self) -> None:
        self.settings = Settings()
        self.threads = ThreadMemory()

    @hookimpl
    def router_plugin_options(self) -> Sequence[PluginOption]:
        return [
            PluginOption(NAME, "queues_by_recipient", dict, {}, "recipient address → queue name"),
        ]

    @hookimpl
    def router_configure(self, options: Mapping[str, Mapping[str, Any]]) -> None:
        own = section(options, NAME)
        queues = _queue_table(own.get("queues_by_recipient", {}))
        self.settings = Settings(queues_by_recipient=queues)

    @hookimpl
    def router_parse_contact(
        self, channel: str, payload: Mapping[str, Any], contact_id: str
    ) -> Contact | None:
        if channel != CHANNEL or not _carries_mime(payload):
            return None
        envelope = _envelope(payload)
        raw = _raw_message(payload["mime"])
        try:
            return self._contact(
                message_from_bytes(raw, policy=policy.default), envelope, contact_id
            )
        except Exception:
            # The modern header parser can still fail on hostile input (a NUL in an
            # RFC 2231 parameter, say). The legacy one parses nothing it need not:
            # read the message again with it (reading twice remembers the same thread).
            log.debug("e-mail unreadable with the default policy; trying compat32", exc_info=True)
        try:
            return self._contact(
                message_from_bytes(raw, policy=policy.compat32), envelope, contact_id
            )
        except Exception as exc:  # still unreadable: refuse it with the reason, never crash
            raise ModelError(f"unreadable e-mail: {type(exc).__name__}: {exc}") from exc

    def _contact(self, message: Message, envelope: Envelope, contact_id: str) -> Contact:
        message_id = _first(_message_ids(_raw_header(message, "Message-ID")))
        in_reply_to = _first(_message_ids(_raw_header(message, "In-Reply-To")))
        references = _message_ids(_raw_header(message, "References"))
        thread_id = self._thread(message_id, in_reply_to, references)

        sender = _first(_addresses(message, "From"))
        if sender is None and envelope.mail_from:
            sender = ("", envelope.mail_from)
        customer = Customer(
            name=(sender[0][:MAX_TEXT_LENGTH] or None) if sender else None,
            email=sender[1].lower() if sender else None,
        )
        to = list(envelope.rcpt_tos) or [address for _, address in _addresses(message, "To")]
        cc = [address for _, address in _addresses(message, "Cc")]
        subject = _header_text(message, "Subject")[:MAX_SUBJECT_LENGTH]
        leaves = _leaves(message)
        body, truncated = _body(leaves)
        attachments = [_attachment(leaf) for leaf in leaves if leaf.is_file]

        attributes: dict[str, Any] = {
            "message_id": message_id,
            "in_reply_to": in_reply_to,
            "references": _bounded(references),
            "to": to[:MAX_ADDRESSES],
            "cc": cc[:MAX_ADDRESSES],
            "date": _header_text(message, "Date")[:MAX_TEXT_LENGTH] or None,
            "mail_from": envelope.mail_from,
            "attachments": attachments[:MAX_ATTACHMENTS_LISTED],
        }
        if len(attachments) > MAX_ATTACHMENTS_LISTED:
            attributes["attachments_not_listed"] = len(attachments) - MAX_ATTACHMENTS_LISTED
        if truncated:
            attributes["body_truncated"] = True
        return Contact(
            id=contact_id if message_id is None else contact_id_for(message_id),
            channel=CHANNEL,
            customer=customer,
            subject=subject,
            body=body,
            queue=self._queue_for(to),
            thread_id=thread_id,
            attributes=MappingProxyType(attributes),
        )

    def _thread(
        self, message_id: str | None, in_reply_to: str | None, references: list[str]
    ) -> str | None:
        parent = references[0] if references else in_reply_to
        thread = message_id if parent is None else self.threads.thread_of(parent) or parent
        if message_id is not None and thread is not None:
            self.threads.remember(message_id, thread)
        return thread

    def _queue_for(self, recipients: Sequence[str]) -> str | None:
        table = self.settings.queues_by_recipient
        for address in recipients:
            queue = table.get(address.strip().lower())
            if queue is not None:
                return queue
        return None


def contact_id_for(message_id: str) -> str:
    """The contact id of a message: the same for every delivery of the same Message-ID."""
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()
    return "email-" + digest[:32]


# ---------------------------------------------------------------- the payload
def _carries_mime(payload: object) -> bool:
    """Ours: a raw message under "mime" (a normalized e-mail contact is not)."""
    return isinstance(payload, Mapping) and "mime" in payload


def _queue_table(value: object) -> Mapping[str, str]:
    where = f"plugins.{NAME}.queues_by_recipient"
    if not isinstance(value, Mapping):
        raise ModelError(f"{where} must be a table of address = queue name")
    table: dict[str, str] = {}
    for address, queue in value.items():
        if not isinstance(address, str) or not address.strip():
            raise ModelError(f"{where}: an address must be a non-empty string")
        if not isinstance(queue, str) or not queue:
            raise ModelError(f"{where}.{address} must be a non-empty queue name")
        table[address.strip().lower()] = queue
    return MappingProxyType(table)


def _envelope(payload: Mapping[str, Any]) -> Envelope:
    mail_from = payload.get("mail_from")
    if mail_from is not None and not isinstance(mail_from, str):
        raise ModelError("mail_from must be a string (the SMTP envelope sender)")
    rcpt_tos = payload.get("rcpt_tos")
    if rcpt_tos is None:
        recipients: tuple[str, ...] = ()
    elif isinstance(rcpt_tos, str):
        recipients = (rcpt_tos,)
    elif isinstance(rcpt_tos, list | tuple) and all(isinstance(r, str) for r in rcpt_tos):
        recipients = tuple(rcpt_tos)
    else:
        raise ModelError("rcpt_tos must be a list of strings (the SMTP envelope recipients)")
    sender = _clean(mail_from).strip().strip("<>").strip()[:MAX_ADDRESS_LENGTH] if mail_from else ""
    return Envelope(
        mail_from=sender or None,
        rcpt_tos=tuple(clean for r in recipients if (clean := _clean(r).strip().strip("<>"))),
    )


def _raw_message(mime: object) -> bytes:
    if isinstance(mime, bytes):
        return mime
    if isinstance(mime, bytearray | memoryview):
        return bytes(mime)
    if isinstance(mime, str):
        # A gateway publishing JSON had to make text of the bytes: 7-bit mail is
        # ASCII anyway, and 8-bit mail was most likely read as UTF-8.
        try:
            return mime.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate JSON let through: mark it and go on
            return mime.encode("utf-8", "replace")
    kind = type(mime).__name__
    raise ModelError(f"mime must be the raw message as bytes or a string, not {kind}")


# ---------------------------------------------------------------- headers
def _clean(text: str) -> str:
    """Text safe to store and to encode as JSON.

    The parser keeps undecodable header bytes as lone surrogates; raw UTF-8
    (SMTPUTF8 mail) becomes proper text again, anything else a replacement mark.
    """
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # surrogates the parser did not make
        return text.encode("utf-8", "replace").decode("utf-8")


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", _clean(text)).strip()


def _raw_header(message: Message, name: str) -> str:
    """The first `name` header as written (unfolded, not decoded); "" when absent."""
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return str(value)
    return ""


def _header_text(message: Message, name: str) -> str:
    """The first `name` header decoded (RFC 2047 encoded words), on one line."""
    try:
        value = message.get(name)
        if value is None:
            return ""
        # the default policy decodes; compat32 hands over the raw text
        return _one_line(str(value) if isinstance(value, BaseHeader) else _decode_words(value))
    except Exception:  # the header parser failed on it: decode the raw text ourselves
        return _one_line(_decode_words(_raw_header(message, name)))


def _decode_words(raw: str) -> str:
    try:
        return str(make_header(decode_header(raw)))
    except Exception:  # a bad charset or broken encoded word: the raw text is still readable
        return raw


def _addresses(message: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) of every address in the first `name` header."""
    found: list[tuple[str, str]] = []
    try:
        header = message.get(name)
        if header is None:
            return []
        if isinstance(header, AddressHeader):
            pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
        else:  # compat32: the raw text
            pairs = getaddresses([_decode_words(str(header))])
    except Exception:  # the header parser failed on it: the lenient stdlib reader instead
        pairs = getaddresses([_decode_words(_raw_header(message, name))])
    for display_name, written in pairs:
        address = _clean(written).strip()
        if "@" in address and " " not in address and len(address) <= MAX_ADDRESS_LENGTH:
            found.append((_one_line(display_name), address))
    return found


def _message_ids(raw: str) -> list[str]:
    """The ids in a Message-ID, In-Reply-To or References header, as "<id>"."""
    text = _clean(raw)
    ids = [f"<{found}>" for found in _MESSAGE_ID.findall(text)]
    if not ids:  # some senders leave out the angle brackets
        ids = [f"<{token}>" for token in text.split() if "<" not in token and ">" not in token]
    return [i for i in ids if len(i) <= MAX_ID_LENGTH]


def _bounded(references: list[str]) -> list[str]:
    """At most `MAX_REFERENCES` ids: the root and the most recent ones."""
    if len(references) <= MAX_REFERENCES:
        return references
    return references[:1] + references[-(MAX_REFERENCES - 1) :]


def _first(items: Sequence[_T]) -> _T | None:
    return items[0] if items else None


# ---------------------------------------------------------------- the body
@dataclass(frozen=True, slots=True)
class _Leaf:
    """A part holding content, its headers read once (the default policy parses on every read)."""

    part: Message
    content_type: str
    filename: str | None
    #: an attachment: a filename, `Content-Disposition: attachment`, or not text
    is_file: bool


def _leaves(message: Message) -> list[_Leaf]:
    """The parts holding content, in order; an attached message (message/rfc822) as one."""
    found: list[_Leaf] = []
    stack = [message]  # depth-first without recursion: nesting depth is the sender's choice
    while stack:
        part = stack.pop()
        content_type = part.get_content_type()
        payload = part.get_payload()
        if content_type.startswith("multipart/"):
            if isinstance(payload, list):
                stack.extend(reversed([inner for inner in payload if isinstance(inner, Message)]))
                continue
            content_type = "text/plain"  # no boundary, so no parts: show what was written
        try:
            filename = part.get_filename()
            disposition = part.get_content_disposition()
        except Exception:  # a malformed parameter: judge by the type alone
            filename = disposition = None
        is_file = bool(filename) or disposition == "attachment"
        is_file = is_file or not content_type.startswith("text/")
        found.append(_Leaf(part, content_type, _one_line(filename) if filename else None, is_file))
    return found


def _body(leaves: Sequence[_Leaf]) -> tuple[str, bool]:
    """The body text, and whether it was truncated.

    The first text/plain part wins; the first text/html one is read when
    there is no plain part, or when it is empty (some senders put nothing in it).
    """
    plain = next((x.part for x in leaves if x.content_type == "text/plain" and not x.is_file), None)
    rich = next((x.part for x in leaves if x.content_type == "text/html" and not x.is_file), None)
    text, truncated = (_part_text(plain) if plain is not None else ""), False
    if not text.strip() and rich is not None:
        text, truncated = html_to_text(_part_text(rich))
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > MAX_BODY_LENGTH:
        text, truncated = text[:MAX_BODY_LENGTH], True
    return text, truncated


def _part_text(part: Message) -> str:
    """A text part decoded: its declared charset, else UTF-8, else the best guess."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    try:
        declared = part.get_content_charset()
    except Exception:  # a malformed Content-Type parameter
        declared = None
    for charset in (declared, "utf-8"):
        if charset:
            try:
                return data.decode(charset)
            except (LookupError, UnicodeError, ValueError):
                continue
    if declared and declared not in ("us-ascii", "ascii"):
        try:
            return data.decode(declared, "replace")  # a few broken bytes in the declared charset
        except (LookupError, UnicodeError, ValueError):
            pass
    # 8-bit text declared as ASCII, or in a charset nobody knows: the likeliest guess
    return data.decode("cp1252", "replace")


def _attachment(leaf: _Leaf) -> dict[str, Any]:
    return {"filename": leaf.filename, "content_type": leaf.content_type, "size": _size(leaf.part)}


def _size(part: Message) -> int:
    """Decoded bytes of an attachment; an attached message counts as written."""
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return len(data)
    try:
        inner = part.get_payload()
        if isinstance(inner, list):
            return sum(len(m.as_bytes()) for m in inner if isinstance(m, Message))
    except Exception:  # a message that cannot be written back: its size is unknown
        pass
    return 0


# ---------------------------------------------------------------- HTML
_SKIPPED = frozenset({"script", "style", "head", "title", "template"})
#: elements that start a new paragraph (a blank line) or a new line
_PARAGRAPHS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "hr"}
)
_LINES = frozenset(
    {"div", "tr", "li", "dt", "dd", "dl", "address", "article", "aside", "section", "header",
     "footer", "main", "nav", "figure", "figcaption", "form", "fieldset", "center"}
)  # fmt: skip
_CELLS = frozenset({"td", "th"})


class _HtmlText(HTMLParser):
    """Readable text of an HTML body: no scripts or styles, line breaks where blocks are."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.length = 0
        self._skipping: dict[str, int] = {}
        self._pre = 0
        self._pending_breaks = 0  # newlines owed before the next text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._block(tag, opening=True)
        if tag in _SKIPPED:
            self._skipping[tag] = self._skipping.get(tag, 0) + 1
        elif tag == "body":  # an unclosed <head> ends here
            self._skipping.pop("head", None)
            self._skipping.pop("title", None)
        elif tag == "br":
            self._pending_breaks = min(self._pending_breaks + 1, 2)
        elif tag == "li":
            self._emit("- ")
        elif tag in _CELLS:
            self._emit(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            count = self._skipping.get(tag, 0) - 1
            if count > 0:
                self._skipping[tag] = count
            else:
                self._skipping.pop(tag, None)
        self._block(tag, opening=False)

    def handle_data(self, data: str) -> None:
        if self._skipping or not data:
            return
        if self._pre:
            self._emit(data)
            return
        text = _WHITESPACE.sub(" ", data)
        if text.strip():
            self._emit(text)

    def _block(self, tag: str, *, opening: bool) -> None:
        if tag in _PARAGRAPHS:
            self._break(2)
            if tag == "pre":
                self._pre = self._pre + 1 if opening else max(0, self._pre - 1)
        elif tag in _LINES:
            self._break(1)

    def _break(self, lines: int) -> None:
        self._pending_breaks = max(self._pending_breaks, lines)

    def _emit(self, text: str) -> None:
        if self._pending_breaks:
            if self.pieces:
                self.pieces.append("\n" * self._pending_breaks)
            self._pending_breaks = 0
        self.pieces.append(text)
        self.length += len(text)

    def text(self) -> str:
        lines = (line.strip() for line in "".join(self.pieces).split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(markup: str, limit: int = MAX_BODY_LENGTH) -> tuple[str, bool]:
    """Readable text of an HTML document, and whether it was cut short.

    Reading stops once `limit` characters of text are found or after
    `MAX_HTML_CHARS` of markup: the parser runs on the event loop.
    """
    cut = len(markup) > MAX_HTML_CHARS
    markup = markup[:MAX_HTML_CHARS]
    parser = _HtmlText()
    try:
        for start in range(0, len(markup), 65_536):
            parser.feed(markup[start : start + 65_536])
            if parser.length > limit:
                cut = True
                break
        parser.close()
        text = parser.text()
    except Exception:  # HTMLParser gave up on broken markup: strip the tags instead
        text = _WHITESPACE.sub(" ", html.unescape(_TAG.sub(" ", markup))).strip()
    return text, cut
