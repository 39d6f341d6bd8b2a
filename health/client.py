"""The redis-py client a health check uses: lean on purpose, so that a check costs the node one round trip.

RESP2 (no HELLO on connect), no CLIENT SETINFO, no retries (a retry would hide a refused connection behind the
deadline and report it as a timeout), connect and socket timeouts at the check's deadline. The login is the
target's cluster's own (spec ``credentials``) or the command's; TLS files apply to rediss:// targets.
"""

from __future__ import annotations

import inspect

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from cachewatch.health.targets import Credentials, Target, Tls, credentials_for

# Recent redis-py sends CLIENT SETINFO on connect unless driver_info is None; older releases take lib_name/lib_version.
NO_CLIENT_SETINFO = ({"driver_info": None} if "driver_info" in inspect.signature(redis.asyncio.Redis).parameters
                     else {"lib_name": None, "lib_version": None})


def tls_options(tls: Tls) -> dict[str, object]:
    """redis-py's ssl_* arguments for the TLS settings (verification on unless explicitly skipped)."""
    return {"ssl_ca_certs": tls.ca_file, "ssl_certfile": tls.cert_file, "ssl_keyfile": tls.key_file,
            "ssl_cert_reqs": "none" if tls.insecure_skip_verify else "required",
            "ssl_check_hostname": not tls.insecure_skip_verify}


def client_for(target: Target, credentials: Credentials, timeout: float) -> redis.asyncio.Redis:
    login = credentials_for(target, credentials)
    return redis.asyncio.Redis(
        host=target.host, port=target.port, ssl=target.tls, **(tls_options(login.tls) if target.tls else {}),
        username=login.username or target.username, password=login.password,
        protocol=2, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0),
        **NO_CLIENT_SETINFO,
    )
