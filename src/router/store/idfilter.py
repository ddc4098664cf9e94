"""A Bloom filter of the contact ids a store holds: "surely not there" without a read.

Every contact taken in is looked up by id first (idempotency: a gateway's retry
of a contact finished long ago must find it, not create it again), and almost
every id is new. In the daemon that SQLite read was 22 µs of an HTTP contact's
path, cold caches and locks included (session 17); asking this filter first is
about 1 µs, and only an id it may hold (one the store wrote, or a false
positive) goes on to the read.

No id is ever removed: retention's pruning leaves its bits behind, which only
makes false positives a little likelier until the next start builds the filter
again. False positives send a lookup to the store as before, so a filter fuller
than its design is slower, never wrong.
"""

from __future__ import annotations

#: bits per id the filter is sized for; with `HASHES` probes, a false positive in
#: about 1,600 lookups while it holds no more than its design
BITS_PER_ID = 32
HASHES = 4
#: ids the filter has room for beyond those it was built from: the ones that come
#: while the daemon runs
ROOM_FOR = 1_000_000


class IdFilter:
    def __init__(self, expected_ids: int = 0) -> None:
        wanted = BITS_PER_ID * (expected_ids + ROOM_FOR)
        self._bits = bytearray(1 << max(wanted - 1, 0).bit_length() >> 3)
        self._mask = len(self._bits) * 8 - 1

    def add(self, contact_id: str) -> None:
        bits = self._bits
        for byte, bit in self._positions(contact_id):
            bits[byte] |= bit

    def may_contain(self, contact_id: str) -> bool:
        bits = self._bits
        return all(bits[byte] & bit for byte, bit in self._positions(contact_id))

    def _positions(self, contact_id: str) -> list[tuple[int, int]]:
        """The id's `HASHES` bits, as (byte index, bit mask)."""
        mask = self._mask
        # two 32-bit halves of the string's own (keyed, cached) hash, combined as in
        # Kirsch and Mitzenmacher's double hashing: as good as `HASHES` hash functions
        h = hash(contact_id)
        step = (h >> 32) | 1
        positions = []
        for _ in range(HASHES):
            index = h & mask
            positions.append((index >> 3, 1 << (index & 7)))
            h += step
        return positions
