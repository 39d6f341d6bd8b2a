"""Redis Cluster key slots, and a hash tag that lands in a slot a given primary owns.

A heartbeat written to a cluster primary must hash to one of its own slots, or the primary answers MOVED. The
slot of a key is CRC16-XMODEM (polynomial 0x1021, initial value 0) of its hash tag (the text between the first
``{`` and the next ``}``, when not empty) or of the whole key, modulo 16384. ``binascii.crc_hqx`` with an
initial value of 0 is exactly that CRC, in C. Tags are searched, not tabulated: a primary owning a share s of
the slots needs about 1/s tries (16384 for a single slot, well under a millisecond each).
"""

from __future__ import annotations

import binascii
import functools
from collections.abc import Sequence

SLOTS = 16384
MAX_TRIES = 1 << 20  # far beyond what any non-empty slot range needs (the search covers every slot long before)

SlotRanges = tuple[tuple[int, int], ...]  # inclusive (first, last) ranges


def key_slot(key: str) -> int:
    """The cluster slot of ``key``, as CLUSTER KEYSLOT computes it."""
    data = key.encode()
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    return binascii.crc_hqx(data, 0) % SLOTS


def owned_ranges(cluster_slots: object, node_id: str) -> SlotRanges:
    """The slot ranges whose primary is ``node_id``, from a CLUSTER SLOTS reply
    (``[[first, last, [ip, port, id, ...], replicas...], ...]``)."""
    out = []
    for entry in cluster_slots if isinstance(cluster_slots, Sequence) else ():
        if len(entry) >= 3 and len(entry[2]) >= 3 and str(entry[2][2]) == node_id:
            out.append((int(entry[0]), int(entry[1])))
    return tuple(sorted(out))


@functools.lru_cache(maxsize=1024)
def tag_for(ranges: SlotRanges) -> str | None:
    """The first decimal tag whose slot is in ``ranges`` (cached per topology); None when they are empty."""
    if not ranges:
        return None
    for n in range(MAX_TRIES):
        tag = str(n)
        slot = binascii.crc_hqx(tag.encode(), 0) % SLOTS
        if any(first <= slot <= last for first, last in ranges):
            return tag
    return None
