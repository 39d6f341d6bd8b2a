"""The redis-py client a health check uses: lean on purpose, so that a check costs the node one round trip.

RESP2 (no HELLO on connect), no CLIENT SETINFO, no retries (a retry would hide a refused connection behind the
deadline and report it as a timeout), connect and socket timeouts at the check's deadline.
"""

from __future__ import annotations

import inspect

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from cachewatch.health.targets import Credentials, Target

# Recent redis-py sends CLIENT SETINFO on connect unless driver_info is None; older releases take lib_name/lib_version.
NO_CLIENT_SETINFO = ({"driver_info": None} if "driver_info" in inspect.signature(redis.asyncio.Redis).parameters
                     else {"lib_name": None, "lib_version": None})


def client_for(target: Target, credentials: Credentials, timeout: float) -> redis.asyncio.Redis:
    return redis.asyncio.Redis(
        host=target.host, port=target.port, ssl=target.tls,
        username=credentials.username or target.username, password=credentials.password,
        protocol=2, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0),
        **NO_CLIENT_SETINFO,
    )
