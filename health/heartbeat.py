"""The ``replication`` probe module: real replication delay, measured with a heartbeat (pt-heartbeat's idea).

INFO's replica ``lag`` is the seconds since the replica's last ACK: it shows the link is alive, not how far
behind the data is. The heartbeat measures the data: on the primary, SET a key that only this probe writes
(a random token in its name and value, ``PX`` a few seconds beyond the deadline, then DEL), and GET it on each
online replica over its own connection until the token arrives. Both ends are timed on the prober's monotonic
clock, so clock skew between hosts does not matter.

Per replica (``replica="ip:port"`` as the primary lists it in INFO replication):
- the token arrived: ``redis_replication_probe_success 1`` and ``redis_replication_probe_delay_seconds`` = the
  time from just before the write to the GET that returned it;
- it did not arrive before the deadline (or the replica did not answer): success 0, and the delay series holds
  the time waited, a lower bound of the real delay, so ``delay > threshold`` alerts fire on it as well;
- the replica is not ``online`` (still syncing), could not be connected to, or refused the GET: success 0 and no
  delay series (nothing was measured).

A target that is a replica, or a primary without replicas, has nothing to measure: the module succeeds with
no replica series (the replica's delay is reported by its primary's probe). In cluster mode the key carries a
hash tag whose slot the primary owns (CLUSTER MYID + CLUSTER SLOTS), and replica connections send READONLY.

Replica connections are opened before the write, so that their connect and AUTH time is not counted as delay.
The write waits for them only as long as a handshake should take (``DIAL_FACTOR`` times the primary's own, at
least ``DIAL_FLOOR``, at most ``DIAL_SHARE`` of the time left): a stalled replica, whose AUTH hangs, is not
waited for, so its stall shows as delay instead of delaying the write.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
from typing import NamedTuple

from cachewatch.checks import Snapshot
from cachewatch.checks.measures import replicas
from cachewatch.health.hashslot import owned_ranges, tag_for
from cachewatch.health.phases import ProbeFailure
from cachewatch.health.probe_samples import DELAY, REPLICA_SUCCESS, Sample
from cachewatch.health.probe_wire import Endpoint, Wire, dial
from cachewatch.health.replies import parse_fields

KEY_PREFIX = "cachewatch:heartbeat:"
TTL_MARGIN_MS = 3000  # the key expires this long after the deadline, whatever happens to the DEL
DIAL_FACTOR, DIAL_FLOOR, DIAL_SHARE = 4.0, 0.05, 0.25  # the wait for replica handshakes before the write
FIRST_POLL, MAX_POLL = 0.001, 0.05  # seconds between GETs on a replica: doubling from the first to the max


def heartbeat_key(tag: str | None, token: str) -> str:
    """``cachewatch:heartbeat:{tag}:token`` in cluster mode (the tag picks the slot), else without the tag."""
    return f"{KEY_PREFIX}{{{tag}}}:{token}" if tag is not None else f"{KEY_PREFIX}{token}"


class Replica(NamedTuple):
    host: str
    port: int
    state: str

    @property
    def address(self) -> str:
        """The ``replica`` label: ip:port as the primary lists it ([ip]:port for IPv6)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def listed_replicas(info: dict[str, str]) -> list[Replica]:
    """The ``slaveN:ip=…,port=…,state=…`` lines of a primary's INFO replication, by address."""
    found = [Replica(r.get("ip", ""), int(r.get("port", "0")), r.get("state", ""))
             for r in replicas(Snapshot(info=info))]
    return sorted(found, key=lambda r: r.address)


async def _slot_tag(primary: Wire) -> str | None:
    my_id, slots = await primary.pipeline((("CLUSTER", "MYID"), ("CLUSTER", "SLOTS")))
    if isinstance(my_id, Exception) or isinstance(slots, Exception):
        raise ProbeFailure(f"CLUSTER MYID/SLOTS refused: {my_id if isinstance(my_id, Exception) else slots}")
    return tag_for(owned_ranges(slots, str(my_id)))


async def _open_replica(endpoint: Endpoint, cluster: bool) -> Wire:
    wire = await dial(endpoint)
    if cluster:
        try:
            reply = await wire.call("READONLY")
        except BaseException:
            wire.close()
            raise
        if isinstance(reply, Exception):
            wire.close()
            raise ProbeFailure(f"READONLY refused: {reply}")
    return wire


async def _wait_for_token(opening: asyncio.Task[Wire], key: str, token: str, written: float) -> float:
    """Seconds from the write to the GET that returned the token (the caller bounds the wait)."""
    loop = asyncio.get_running_loop()
    wire = await opening
    pause = FIRST_POLL
    while True:
        reply = await wire.call("GET", key)
        arrived = loop.time()
        if reply == token:
            return arrived - written
        if isinstance(reply, Exception):
            raise ProbeFailure(f"GET refused: {reply}")
        await asyncio.sleep(pause)
        pause = min(pause * 2, MAX_POLL)


async def _measure(opening: asyncio.Task[Wire], key: str, token: str, written: float,
                   deadline: float) -> tuple[float, float | None]:
    """(success, delay): (1, delay) on arrival, (0, time waited) past the deadline, (0, None) on an error."""
    try:
        async with asyncio.timeout_at(deadline):
            return 1.0, await _wait_for_token(opening, key, token, written)
    except TimeoutError:
        return 0.0, asyncio.get_running_loop().time() - written
    except Exception:  # unreachable replica, refused GET: nothing measured
        return 0.0, None


async def heartbeat(primary: Wire, endpoint: Endpoint, deadline: float, handshake: float = 0.0) -> list[Sample]:
    """Write once on ``primary``, read on each online replica until ``deadline`` (the loop's clock).
    ``handshake``: how long the primary's connect, TLS and AUTH took (what a replica's should take)."""
    loop = asyncio.get_running_loop()
    info = await primary.call("INFO", "replication", "cluster")
    if isinstance(info, Exception):
        raise ProbeFailure(f"INFO refused: {info}")
    fields = parse_fields(info)
    if fields.get("role") != "master":
        return []
    listed = listed_replicas(fields)
    if not listed:
        return []
    cluster = fields.get("cluster_enabled") == "1"
    tag = await _slot_tag(primary) if cluster else None
    if cluster and tag is None:
        raise ProbeFailure("this cluster primary owns no slot: no key can be written to it")
    token = secrets.token_hex(8)
    key = heartbeat_key(tag, token)
    openings = {r.address: asyncio.ensure_future(_open_replica(endpoint.at(r.host, r.port), cluster))
                for r in listed if r.state == "online"}
    try:
        if openings:
            share = max(0.0, deadline - loop.time()) * DIAL_SHARE
            await asyncio.wait(openings.values(), timeout=min(share, max(DIAL_FLOOR, handshake * DIAL_FACTOR)))
        ttl_ms = math.ceil(max(0.0, deadline - loop.time()) * 1000) + TTL_MARGIN_MS
        written = loop.time()
        reply = await primary.call("SET", key, token, "PX", str(ttl_ms))
        if isinstance(reply, Exception):
            raise ProbeFailure(f"heartbeat SET refused: {reply}")
        measured = dict(zip(openings, await asyncio.gather(
            *(_measure(opening, key, token, written, deadline) for opening in openings.values())), strict=True))
        if loop.time() < deadline:  # the key expires anyway; the DEL only shortens its life
            with contextlib.suppress(Exception):
                async with asyncio.timeout_at(deadline):
                    await primary.call("DEL", key)
    finally:
        for opening in openings.values():
            opening.cancel()
        for wire in await asyncio.gather(*openings.values(), return_exceptions=True):
            if isinstance(wire, Wire):
                wire.close()
    out: list[Sample] = []
    for replica in listed:
        success, delay = measured.get(replica.address, (0.0, None))
        out.append(Sample(REPLICA_SUCCESS, {"replica": replica.address}, success))
        if delay is not None:
            out.append(Sample(DELAY, {"replica": replica.address}, delay))
    return out
