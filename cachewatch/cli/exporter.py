"""``cachewatch exporter``: flags and environment → settings → the exporter's server."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cachewatch.exporter.credentials import Credentials
    from cachewatch.exporter.targets import Target

EXPORTER_EPILOG = """\
environment (redis_exporter's names, for the features we share; flags win over them):
  REDIS_ADDR, REDIS_USER, REDIS_PASSWORD (the --redis-addr target only), REDIS_PASSWORD_FILE (JSON map
  of target URL → password for /scrape targets), REDIS_EXPORTER_WEB_LISTEN_ADDRESS,
  REDIS_EXPORTER_WEB_TELEMETRY_PATH, REDIS_EXPORTER_CONNECTION_TIMEOUT, REDIS_EXPORTER_TLS_CA_CERT_FILE,
  REDIS_EXPORTER_TLS_CLIENT_CERT_FILE, REDIS_EXPORTER_TLS_CLIENT_KEY_FILE, REDIS_EXPORTER_TLS_SERVER_NAME,
  REDIS_EXPORTER_SKIP_TLS_VERIFICATION, REDIS_EXPORTER_SET_CLIENT_NAME, REDIS_EXPORTER_DISABLE_SCRAPE_ENDPOINT,
  REDIS_EXPORTER_LOG_LEVEL, REDIS_EXPORTER_DEBUG

There is deliberately no --redis-password flag: command lines are visible to every user in ps.
Routes: /metrics, /scrape?target=redis://host:port[&auth_module=NAME],
/probe?target=redis://host:port&module=health|replication|config[&kind=cache|store][&auth_module=NAME] (same
allowlist and credentials as /scrape), /discover-cluster-nodes, /health, POST /-/reload (re-read password
files). See README.md for the config file format.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("exporter", help="run the Prometheus exporter for Redis", allow_abbrev=False,
                       description="Prometheus exporter for Redis, drop-in for redis_exporter's metric names.",
                       epilog=EXPORTER_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", metavar="HOST:PORT", help="address to serve HTTP on (default :9121)")
    p.add_argument("--redis-addr", metavar="URL",
                   help="the target of /metrics: redis://[user@]host:port[/db] or rediss:// for TLS "
                        "(empty: /metrics serves only the exporter's own metrics)")
    p.add_argument("--redis-user", metavar="USER", help="ACL user for --redis-addr")
    p.add_argument("--redis-password-file", metavar="FILE", help="file holding the --redis-addr password")
    p.add_argument("--password-file", metavar="FILE",
                   help="redis_exporter's JSON password file {\"redis://host:port\": \"password\"} for /scrape "
                        "targets")
    p.add_argument("--config", metavar="FILE", help="YAML settings file (auth modules, allowlist, sampling, ...)")
    p.add_argument("--web-config", metavar="FILE",
                   help="exporter-toolkit web config: TLS and bcrypt basic-auth users for this endpoint")
    p.add_argument("--allow-target", metavar="GLOB", action="append", dest="allow_targets",
                   help="host:port glob /scrape may contact (repeatable); nothing is allowed by default")
    p.add_argument("--allow-any-target", action="store_true",
                   help="let /scrape contact any target (unsafe: anyone reaching the exporter can make it "
                        "connect anywhere)")
    p.add_argument("--disable-scrape-endpoint", action="store_true", help="do not serve /scrape at all")
    p.add_argument("--scrape-timeout", metavar="DURATION",
                   help="upper bound for one scrape (default 10s; Prometheus' timeout header lowers it)")
    p.add_argument("--tls-ca-cert-file", metavar="FILE", help="CA bundle for rediss:// targets")
    p.add_argument("--tls-client-cert-file", metavar="FILE", help="client certificate for --redis-addr")
    p.add_argument("--tls-client-key-file", metavar="FILE", help="client key for --redis-addr")
    p.add_argument("--tls-server-name", metavar="NAME", help="expected server name (SNI) of --redis-addr")
    p.add_argument("--skip-tls-verification", action="store_true",
                   help="do not verify the Redis server certificate of --redis-addr (testing only)")
    p.add_argument("--key-sampling", action="store_true",
                   help="enable background big/hot-key sampling of --redis-addr (see config key_sampling)")
    p.add_argument("--drop-family", metavar="NAME", action="append", dest="drop_families",
                   help="an exporter family not to serve, e.g. redis_commands_latencies_usec (repeatable; config "
                        "series.drop_families; series each costs: docs/capacity.md)")
    p.add_argument("--command-allowlist", metavar="CMD,...", type=_names,
                   help="commands that keep their own latency series (config series.command_allowlist); the "
                        "others are summed into cmd=\"other\" ('': all of them), or left out with "
                        "--other-commands drop")
    p.add_argument("--other-commands", choices=["aggregate", "drop"],
                   help="what --command-allowlist does with the other commands (default aggregate)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--otlp-logs-endpoint", metavar="URL", help="also send logs over OTLP/HTTP, e.g. "
                   "http://collector:4318/v1/logs (default: $OTEL_EXPORTER_OTLP_LOGS_ENDPOINT; README: Logs over OTLP)")
    p.set_defaults(func=run)


def _names(text: str) -> tuple[str, ...]:
    """Comma-separated names; a tuple, so that an empty allowlist ('' : every command into "other") still counts
    as given (build_settings skips empty lists, the flags nobody gave)."""
    return tuple(name for name in text.split(",") if name.strip())


def exporter_flags(args: argparse.Namespace) -> dict[str, object]:
    """argparse names → settings paths (None/absent flags do not override the file or environment)."""
    return {
        "listen": args.listen,
        "redis_addr": args.redis_addr,
        "redis_user": args.redis_user,
        "redis_password_file": args.redis_password_file,
        "password_file": args.password_file,
        "web_config": args.web_config,
        "allow_targets": args.allow_targets,
        "allow_any_target": args.allow_any_target,
        "disable_scrape_endpoint": args.disable_scrape_endpoint,
        "scrape_timeout": args.scrape_timeout,
        "tls.ca_file": args.tls_ca_cert_file,
        "tls.cert_file": args.tls_client_cert_file,
        "tls.key_file": args.tls_client_key_file,
        "tls.server_name": args.tls_server_name,
        "tls.insecure_skip_verify": args.skip_tls_verification,
        "key_sampling.enabled": args.key_sampling,
        "series.drop_families": args.drop_families,
        "series.command_allowlist": args.command_allowlist,
        "series.other_commands": args.other_commands,
        "log_level": args.log_level,
    }


class HealthProber:
    """The exporter's /probe hook: the health part's probe, fed the exporter's target and credentials as the
    plain values it takes. The two parts never import each other; this adapter is where they meet."""

    def __init__(self) -> None:
        from cachewatch.health.probe import MODULES, probe
        from cachewatch.health.probe_checks import SnapshotMemory

        self.modules: Sequence[str] = MODULES
        self._probe = probe  # imported once, here: the exporter imports the health part only when it serves
        self.memory = SnapshotMemory()  # previous snapshot per node, for the rate checks

    async def __call__(self, target: Target, credentials: Credentials, *, module: str, kind: str,
                       timeout: float) -> Sequence[tuple[str, Mapping[str, str], float]]:
        tls = credentials.tls
        outcome = await self._probe(
            target.host, target.port, tls=target.tls, ca_file=tls.ca_file if tls else None,
            cert_file=tls.cert_file if tls else None, key_file=tls.key_file if tls else None,
            server_name=tls.server_name if tls else None, insecure_skip_verify=bool(tls and tls.insecure_skip_verify),
            username=credentials.username or target.username or None, password=credentials.password,
            module=module, timeout=timeout, kind=kind, memory=self.memory)
        if not outcome.success:
            logging.getLogger("cachewatch.exporter.probe").debug("probe failed", extra={
                "target": target.url, "module": module, "phase": outcome.failed_phase, "reason": outcome.reason})
        return outcome.samples


def run(args: argparse.Namespace) -> int:
    from cachewatch.exporter.app import run as run_exporter
    from cachewatch.exporter.credentials import CredentialError
    from cachewatch.exporter.options import SettingsError, build_settings
    from cachewatch.exporter.targets import TargetError
    from cachewatch.exporter.webconfig import WebConfig, WebConfigError
    from cachewatch.log_export import configure
    from cachewatch.logs import setup_logging

    try:
        settings = build_settings(args.config, exporter_flags(args))
        web_config = WebConfig.load(settings.web_config) if settings.web_config else None
    except (SettingsError, WebConfigError) as exc:
        print(f"cachewatch exporter: {exc}", file=sys.stderr)
        return 2
    configure(endpoint=args.otlp_logs_endpoint, service_name="cachewatch-exporter")
    setup_logging(settings.log_level)

    try:
        run_exporter(settings, web_config, prober=HealthProber())
    except (CredentialError, TargetError) as exc:
        print(f"cachewatch exporter: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cachewatch exporter: cannot listen on {settings.listen}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0
