"""Helpers the health tests share: a probe that checks a node the way ``cachewatch health`` does, and ports."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from cachewatch.checks import Snapshot
from cachewatch.health.client import client_for
from cachewatch.health.evaluate import CheckResult, NodeHealth, evaluate
from cachewatch.health.snapshot import take_snapshot
from cachewatch.health.targets import Credentials, Target
from cachewatch.local_redis import RedisServer

PASSWORD = "health-test-pw-7f3a"

class Probe:
    """A health client on one server that keeps its connection and its previous sample, like a --watch cycle."""

    def __init__(self, server: RedisServer | int, *, user: str | None = None, password: str | None = None,
                 kind: str = "cache", timeout: float = 2.0) -> None:
        port = server if isinstance(server, int) else server.port
        if password is None and not isinstance(server, int):
            password = server.password
        self.target = Target(host="127.0.0.1", port=port, kind=kind)
        self.credentials = Credentials(username=user, password=password)
        self.timeout = timeout
        self.previous: Snapshot | None = None
        self.loop = asyncio.new_event_loop()
        self.client = client_for(self.target, self.credentials, timeout)

    def snapshot(self) -> Snapshot:
        return self.loop.run_until_complete(take_snapshot(self.client, kind=self.target.kind, timeout=self.timeout))

    def health(self) -> NodeHealth:
        """Snapshot, evaluate against the previous sample, remember this one."""
        snap = self.snapshot()
        health = evaluate(snap, self.previous, address=self.target.address)
        self.previous = snap
        return health

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


def result(health: NodeHealth, check_id: str) -> CheckResult:
    """That check's result on that node."""
    return next(c for c in health.checks if c.id == check_id)


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening, below the ephemeral range (so no self-connect can happen)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for port in range(low - 1, 1024, -1):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 111:  # ECONNREFUSED
                return port
    raise RuntimeError("no closed port found")
