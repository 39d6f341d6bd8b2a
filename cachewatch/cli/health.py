"""``cachewatch health [SPEC] [--target URL ...]``: flags → a health request; the work is cachewatch.health.run."""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from cachewatch.cli.redis_login import LOGIN_EPILOG, add_login_flags, tls_settings

EX_USAGE = 4  # a bad spec, flag or target: 2 already means "unhealthy" to the scripts that call us
HEALTH_EPILOG = """\
exit codes (the worst node decides; unhealthy > unknown > degraded > healthy):
  0  every node healthy: no warning and no critical check
  1  degraded: some node has a warning check
  2  unhealthy: some node has a critical check, or cannot be reached (connect, tls, auth or timeout)
  3  unknown: some node answered but nothing could be decided (INFO refused)
  4  usage: bad flags or spec, no SPEC and no --target, unreadable password file

rate checks (mem.eviction_rate, mem.oom_rejects, net.rejected_connections, repl.full_sync) compare two samples:
with --watch they work from the second cycle on; a single run takes one sample, where they report skip, unless
--interval 5s asks for two. A check whose command the server refuses (ACL, managed service) reports unknown, not
a failure.

monitor: --watch 30s --alertmanager http://alertmanager:9093 posts one RedisNodeUnhealthy alert per unhealthy
node to Alertmanager's /api/v2/alerts each cycle (resolved when the node recovers, or three cycles after the
command stops), so routing, grouping and silences stay with Alertmanager.

""" + LOGIN_EPILOG


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("health", help="check every node of a spec (or --target URLs): healthy, degraded, unhealthy",
                       description="Check Redis nodes concurrently, one pipelined round trip and one deadline each, "
                                   "against the health-check table (docs/checks.md).",
                       epilog=HEALTH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    p.add_argument("spec", nargs="?", metavar="SPEC", help="a .py file exposing `spec`, or YAML of the same schema")
    p.add_argument("--target", action="append", dest="targets", default=[], metavar="URL",
                   help="redis://[user@]host:port or rediss://... (repeatable; with or instead of SPEC)")
    p.add_argument("--json", action="store_true", help="print JSON (with --watch: one line per cycle)")
    p.add_argument("--watch", metavar="DURATION", help="repeat every DURATION (e.g. 30s) until interrupted")
    p.add_argument("--interval", metavar="DURATION", default="0",
                   help="take two samples DURATION apart so the rate checks work in a single run (default 0: one)")
    p.add_argument("--timeout", metavar="DURATION", default="2s",
                   help="deadline per node: connect, AUTH and the round trip (default 2s)")
    add_login_flags(p)
    p.add_argument("--alertmanager", metavar="URL",
                   help="post RedisNodeUnhealthy alerts for unhealthy nodes to this Alertmanager each cycle")
    p.set_defaults(func=run, usage_exit=EX_USAGE)
    p.error = _usage_error  # type: ignore[method-assign]  # argparse exits 2, which here means "unhealthy"


def _usage_error(message: str) -> NoReturn:
    print(f"cachewatch health: error: {message}", file=sys.stderr)
    sys.exit(EX_USAGE)


def _duration(flag: str, value: str | None, *, zero_ok: bool) -> float | None:
    from cachewatch.spec.types import parse_duration

    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        _usage_error(f"{flag}: {exc}")
    if seconds < 0 or (seconds == 0 and not zero_ok):
        _usage_error(f"{flag}: must be {'at least 0' if zero_ok else 'more than 0'}")
    return seconds


def run(args: argparse.Namespace) -> int:
    from cachewatch.cli.spec import load
    from cachewatch.health.run import Options, Request, main
    from cachewatch.health.targets import TargetError

    options = Options(timeout=_duration("--timeout", args.timeout, zero_ok=False),
                      interval=_duration("--interval", args.interval, zero_ok=True),
                      watch=_duration("--watch", args.watch, zero_ok=False))
    spec = None
    if args.spec:
        spec = load(args.spec)  # prints one line per problem
        if spec is None:
            return EX_USAGE
    if args.alertmanager and not args.alertmanager.startswith(("http://", "https://")):
        _usage_error("--alertmanager: give an http:// or https:// URL")
    try:
        tls = tls_settings(args)
        request = Request(spec=spec, urls=tuple(args.targets), as_json=args.json, options=options,
                          user=args.redis_user, password_file=args.redis_password_file, tls=tls,
                          alertmanager_url=args.alertmanager, environ=dict(os.environ))
        return main(request)
    except TargetError as exc:
        print(f"cachewatch health: {exc}", file=sys.stderr)
        return EX_USAGE
    except KeyboardInterrupt:  # a single run interrupted; --watch stops cleanly on SIGINT by itself
        return 130
