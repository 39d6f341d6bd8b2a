"""Open a RESP connection to a target with its credentials: one place for TLS, AUTH and client name."""

from __future__ import annotations

import functools
import ssl

from cachewatch.exporter.credentials import Credentials
from cachewatch.exporter.resp import Connection
from cachewatch.exporter.targets import Target


@functools.cache
def system_tls_context() -> ssl.SSLContext:
    """The system CA pool, for rediss:// targets that have no TLS settings of their own."""
    return ssl.create_default_context()


async def open_target(target: Target, credentials: Credentials, *, client_name: str | None, max_reply_bytes: int,
                      select_db: bool = True) -> Connection:
    tls = credentials.tls
    ssl_context = (tls.context if tls else system_tls_context()) if target.tls else None
    return await Connection.open(
        target.host, target.port, ssl_context=ssl_context,
        server_hostname=tls.server_name if tls and tls.server_name else None,
        username=credentials.username or target.username or None, password=credentials.password,
        client_name=client_name, db=target.db if select_db else 0, max_reply_bytes=max_reply_bytes,
    )
