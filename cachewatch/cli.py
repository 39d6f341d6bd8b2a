"""The ``cachewatch`` command: one entry point, a subcommand per part."""

from __future__ import annotations

import argparse
import sys

from cachewatch import __version__

EXPORTER_EPILOG = """\
environment (redis_exporter's names, for the features we share; flags win over them):
  REDIS_ADDR, REDIS_USER, REDIS_PASSWORD (the --redis-addr target only), REDIS_PASSWORD_FILE (JSON map
  of target URL → password for /scrape targets), REDIS_EXPORTER_WEB_LISTEN_ADDRESS,
  REDIS_EXPORTER_WEB_TELEMETRY_PATH, REDIS_EXPORTER_CONNECTION_TIMEOUT, REDIS_EXPORTER_TLS_CA_CERT_FILE,
  REDIS_EXPORTER_TLS_CLIENT_CERT_FILE, REDIS_EXPORTER_TLS_CLIENT_KEY_FILE, REDIS_EXPORTER_TLS_SERVER_NAME,
  REDIS_EXPORTER_SKIP_TLS_VERIFICATION, REDIS_EXPORTER_SET_CLIENT_NAME, REDIS_EXPORTER_DISABLE_SCRAPE_ENDPOINT,
  REDIS_EXPORTER_LOG_LEVEL, REDIS_EXPORTER_DEBUG

There is deliberately no --redis-password flag: command lines are visible to every user in ps.
Routes: /metrics, /scrape?target=redis://host:port[&auth_module=NAME], /discover-cluster-nodes, /health,
POST /-/reload (re-read password files). See README.md for the config file format.
"""


def add_exporter_parser(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run_exporter)


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
        "log_level": args.log_level,
    }


def run_exporter(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from cachewatch.exporter.app import serve
    from cachewatch.exporter.credentials import CredentialError
    from cachewatch.exporter.options import SettingsError, build_settings
    from cachewatch.exporter.targets import TargetError
    from cachewatch.exporter.webconfig import WebConfig, WebConfigError
    from cachewatch.logs import setup_logging

    try:
        settings = build_settings(args.config, exporter_flags(args))
        web_config = WebConfig.load(settings.web_config) if settings.web_config else None
    except (SettingsError, WebConfigError) as exc:
        print(f"cachewatch exporter: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        await serve(settings, web_config)

    try:
        asyncio.run(main())
    except (CredentialError, TargetError) as exc:
        print(f"cachewatch exporter: {exc}", file=sys.stderr)
        return 2
    except asyncio.CancelledError:
        pass
    except OSError as exc:
        print(f"cachewatch exporter: cannot listen on {settings.listen}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


def add_docs_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("docs", help="write docs/metrics.md (catalog) and docs/runbooks.md (alerts at default "
                       "thresholds)", allow_abbrev=False)
    p.add_argument("--out", default="docs/metrics.md")
    p.add_argument("--check", action="store_true", help="fail if the file is not up to date")
    p.set_defaults(func=run_docs)


def run_docs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cachewatch.docgen import metrics_markdown, runbooks_markdown

    metrics = Path(args.out)
    pages = {metrics: metrics_markdown(), metrics.with_name("runbooks.md"): runbooks_markdown()}
    if args.check:
        stale = [str(path) for path, text in pages.items() if not path.exists() or path.read_text() != text]
        if stale:
            print(f"{', '.join(stale)} out of date; run: cachewatch docs", file=sys.stderr)
            return 1
        return 0
    for path, text in pages.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0


def add_demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="start a local redis-server and the exporter, print what it exports",
                       allow_abbrev=False)
    p.add_argument("--redis-addr", metavar="URL", help="use this Redis instead of starting one")
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT")
    p.add_argument("--serve", action="store_true", help="keep the exporter running after the sample")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from cachewatch.demo import demo

    return demo(args.redis_addr, args.listen, args.serve)


def add_spec_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spec", help="the fleet spec: print its JSON Schema, or check a spec file", allow_abbrev=False)
    spec_sub = p.add_subparsers(dest="spec_command", required=True)
    schema = spec_sub.add_parser("schema", help="print the JSON Schema of the fleet spec (for editors)")
    schema.set_defaults(func=run_spec_schema)
    check = spec_sub.add_parser("check", help="load a spec and report every problem")
    check.add_argument("spec", metavar="SPEC", help="a .py file exposing `spec`, or YAML of the same schema")
    check.set_defaults(func=run_spec_check)
    gen = sub.add_parser("generate", help="spec → Prometheus rules, tests, scrape config, Alertmanager routing, "
                         "PrometheusRule, jsonnet mixin, runbooks, Grafana dashboards and provisioning, "
                         "tail-sampling configs for an OpenTelemetry Collector and Jaeger v2",
                         allow_abbrev=False)
    gen.add_argument("spec", metavar="SPEC", help="a .py file exposing `spec`, or YAML of the same schema")
    gen.add_argument("--out", required=True, metavar="DIR", help="directory to write the artifacts into")
    gen.set_defaults(func=run_generate)
    val = sub.add_parser("validate", help="run promtool and amtool over generated artifacts", allow_abbrev=False)
    val.add_argument("out", metavar="DIR", help="a directory written by cachewatch generate")
    val.set_defaults(func=run_validate)


def run_spec_schema(args: argparse.Namespace) -> int:
    from cachewatch.spec import json_schema

    print(json_schema())
    return 0


def _load(path: str):
    from cachewatch.spec import SpecError, load_spec

    try:
        return load_spec(path)
    except SpecError as exc:
        print(str(exc), file=sys.stderr)
        return None


def run_spec_check(args: argparse.Namespace) -> int:
    spec = _load(args.spec)
    if spec is None:
        return 2
    nodes = sum(len(cluster.nodes) for _, cluster in spec.clusters)
    print(f"{args.spec}: ok ({len(spec.regions)} regions, {len(spec.clusters)} clusters, {nodes} nodes, "
          f"{len(spec.teams)} teams, {len(spec.slos)} SLOs)")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from cachewatch.alert_rules.generate import generate
    from cachewatch.catalog.lint import CatalogLintError
    from cachewatch.dashboards.generate import dashboards
    from cachewatch.dashboards.generate import write as write_dashboards
    from cachewatch.tracing.collector_config import write as write_tracing

    spec = _load(args.spec)
    if spec is None:
        return 2
    start = time.perf_counter()
    out = Path(args.out)
    try:  # the parts meet only here: each writes its own artifacts from the same spec
        written = generate(spec, out, dashboards(spec)) + write_dashboards(spec, out) + write_tracing(spec, out)
    except (CatalogLintError, ValueError) as exc:
        print(f"cachewatch generate: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files under {args.out} in {time.perf_counter() - start:.2f}s")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cachewatch.alert_rules.validate import checks, table

    results = checks(Path(args.out))
    print(table(results))
    return 0 if all(r.ok for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cachewatch", description="Observability for fleets of Redis caches.",
                                     allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"cachewatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_exporter_parser(sub)
    add_demo_parser(sub)
    add_docs_parser(sub)
    add_spec_parsers(sub)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would echo the values too, and a value may be a password given as a flag
        flags = " ".join(arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")) or "(positional values)"
        hint = " (passwords: REDIS_PASSWORD or --redis-password-file)" if "password" in flags else ""
        print(f"cachewatch: error: unrecognized arguments: {flags}{hint}", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
