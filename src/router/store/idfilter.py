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

#: bits per id the filter is sized for; with `HASHES` probes in one block, a false
#: positive in about 4,000 lookups while it holds no more than its design (measured:
#: 1 in 4,200 at 1,000,000 ids, 4 MiB)
BITS_PER_ID = 32
HASHES = 4
#: ids the filter has room for beyond those it was built from: the ones that come
#: while the daemon runs
ROOM_FOR = 1_000_000
#: a cache line: the block an id's bits share
BLOCK_BYTES = 64


class IdFilter:
    """A blocked Bloom filter: an id's `HASHES` bits all lie in one 64-byte block, one
    cache line. Spread over the whole 4 MiB array, each probe was a cache miss: at the
    HTTP routing peak the lookup took 2 % of the daemon's thread (session 19)."""

    def __init__(self, expected_ids: int = 0) -> None:
        wanted = BITS_PER_ID * (expected_ids + ROOM_FOR)
        size = max(1 << max(wanted - 1, 0).bit_length() >> 3, BLOCK_BYTES)
        self._bits = bytearray(size)
        #: a block's first byte is (hash & this): the blocks' count is a power of two
        self._block_mask = size - BLOCK_BYTES

    def add(self, contact_id: str) -> None:
        bits = self._bits
        for byte, bit in self._positions(contact_id):
            bits[byte] |= bit

    def may_contain(self, contact_id: str) -> bool:
        bits = self._bits
        return all(bits[byte] & bit for byte, bit in self._positions(contact_id))

    def _positions(self, contact_id: str) -> list[tuple[int, int]]:
        """The id's `HASHES` bits, as (byte index, bit mask), all in one block. From the
        string's own (keyed, cached) 64-bit hash: the block from its low bits, each bit's
        9-bit offset within the block from its high 36."""
        h = hash(contact_id) & 0xFFFF_FFFF_FFFF_FFFF
        block = h & self._block_mask
        probes = h >> 28
        positions = []
        for _ in range(HASHES):
            positions.append((block | (probes >> 3 & 63), 1 << (probes & 7)))
            probes >>= 9
        return positions
