"""Channel plugin `normalized`: reads the normalized contact JSON of CONTRACT section 4.

It runs last (`trylast`) and claims every payload, so a channel plugin that
reads a native payload (Twilio, Meta, ...) answers before it. See
`router.contact_json` for what it accepts; a bad payload raises `ModelError`.

Options: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from router import hookimpl
from router.contact_json import contact_from_json

if TYPE_CHECKING:
    from router.model import Contact


@hookimpl(trylast=True)
def router_parse_contact(channel: str, payload: Mapping[str, Any], contact_id: str) -> Contact:
    return contact_from_json(payload, contact_id=contact_id, channel=channel)
