"""Contact ids the router makes up: a uuid4's 32 hex digits, never the same twice."""

from __future__ import annotations

import re

from router.runtime.core import new_contact_id

ID_FORM = re.compile(r"^c-[0-9a-f]{32}$")


def test_ids_keep_their_form_and_never_repeat_across_pool_refills() -> None:
    # 256 ids come from one read of the OS's random source: 2,000 span several reads
    ids = [new_contact_id() for _ in range(2_000)]
    assert all(ID_FORM.match(contact_id) for contact_id in ids)
    assert len(set(ids)) == len(ids)


def test_ids_carry_random_bits_in_every_position() -> None:
    # a pool sliced at the wrong offset would repeat or zero some digits
    ids = [new_contact_id()[2:] for _ in range(600)]
    for position in range(32):
        assert len({contact_id[position] for contact_id in ids}) > 8
