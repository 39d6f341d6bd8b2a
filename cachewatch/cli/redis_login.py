"""The login flags ``cachewatch health`` and ``cachewatch diagnose`` share (the exporter's names), so the two
commands log in to a node the same way."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cachewatch.health.targets import Tls

LOGIN_EPILOG = """\
credentials: --redis-user or REDIS_USER, --redis-password-file or REDIS_PASSWORD (flags win); a cluster whose
spec sets `credentials` (user, password: {env: NAME} or {file: PATH}) uses those for its nodes. There is
deliberately no password flag: command lines are visible to every user in ps. TLS (rediss:// targets and
clusters with tls: true): --tls-ca-cert-file, --tls-client-cert-file/--tls-client-key-file,
--skip-tls-verification, as for the exporter.
"""


def add_login_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-user", metavar="USER", help="ACL user (default: REDIS_USER)")
    p.add_argument("--redis-password-file", metavar="FILE", help="file holding the password (default: REDIS_PASSWORD)")
    p.add_argument("--tls-ca-cert-file", metavar="FILE", help="CA bundle for rediss:// targets")
    p.add_argument("--tls-client-cert-file", metavar="FILE", help="client certificate for rediss:// targets")
    p.add_argument("--tls-client-key-file", metavar="FILE", help="client key for rediss:// targets")
    p.add_argument("--skip-tls-verification", action="store_true",
                   help="do not verify the server certificate (test setups only)")


def tls_settings(args: argparse.Namespace) -> Tls:
    """The TLS flags as the health part's settings; TargetError when a certificate comes without its key."""
    from cachewatch.health.targets import Tls

    return Tls(ca_file=args.tls_ca_cert_file, cert_file=args.tls_client_cert_file,
               key_file=args.tls_client_key_file, insecure_skip_verify=args.skip_tls_verification)
