"""The TLS context a client of Redis verifies the server with and shows its certificate from: one recipe for
the exporter's scrapes and the health part's probes (each keeps its own settings type and caching)."""

from __future__ import annotations

import ssl


def client_context(ca_file: str | None, cert_file: str | None, key_file: str | None,
                   insecure_skip_verify: bool = False) -> ssl.SSLContext:
    """Server verification against ``ca_file`` (the system's CAs without one), the client certificate when
    given, and no verification at all only when ``insecure_skip_verify`` says so."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
    if insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx
