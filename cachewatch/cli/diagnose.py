"""``cachewatch diagnose TARGET|SPEC [--keyspace]``: flags → a diagnose request; the work is
cachewatch.health.diagnose.run."""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from cachewatch.cli.redis_login import LOGIN_EPILOG, add_login_flags, tls_settings

EX_USAGE = 4  # as `cachewatch health`: 2 already means "unhealthy"
DIAGNOSE_EPILOG = """\
exit codes (the worst node decides; unhealthy > unknown > degraded > healthy):
  0  healthy: no warning and no critical finding
  1  degraded: some node has a warning finding
  2  unhealthy: some node has a critical finding, or cannot be reached
  3  unknown: some node answered but INFO was refused, so nothing could be judged
  4  usage: bad flags, spec or target, unreadable password file
A section whose command the server refuses (ACL, managed service) says "unknown" and why; it does not change the
exit code by itself.

--keyspace samples keys on a replica when the target has one (else on the target): SCAN COUNT 250 with pipelined
TYPE, MEMORY USAGE key SAMPLES 5, PTTL and OBJECT ENCODING, until the key budget, the time budget or the end of
the keyspace; figures are scaled to the whole keyspace (INFO keyspace) and marked PARTIAL when a budget ended the
run. The report shows key names (the biggest keys): it is printed, never logged.


""" + LOGIN_EPILOG


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diagnose", help="diagnose nodes: what is wrong, why, and what to do",
                       description="One report per node: performance, memory, network, replication, persistence, "
                                   "configuration and security findings, each with its check id, what was seen, "
                                   "why it matters and the fix.",
                       epilog=DIAGNOSE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       allow_abbrev=False)
    p.add_argument("target", metavar="TARGET|SPEC",
                   help="redis://[user@]host:port (or rediss://), or a spec file (.py exposing `spec`, or YAML)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--keyspace", action="store_true", help="add a sampled keyspace analysis")
    p.add_argument("--key-budget", type=int, default=100_000, metavar="N",
                   help="--keyspace: keys sampled at most (default 100000)")
    p.add_argument("--time-budget", metavar="DURATION", default="10s", help="--keyspace: at most (default 10s)")
    p.add_argument("--latency-window", metavar="DURATION", default="1s",
                   help="how long to time PINGs (latency distribution) and between the two samples (default 1s)")
    p.add_argument("--timeout", metavar="DURATION", default="2s", help="deadline per step per node (default 2s)")
    add_login_flags(p)
    p.set_defaults(func=run, usage_exit=EX_USAGE)
    p.error = _usage_error  # type: ignore[method-assign]


def _usage_error(message: str) -> NoReturn:
    print(f"cachewatch diagnose: error: {message}", file=sys.stderr)
    sys.exit(EX_USAGE)


def _seconds(flag: str, value: str) -> float:
    from cachewatch.spec.types import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        _usage_error(f"{flag}: {exc}")
    if seconds <= 0:
        _usage_error(f"{flag}: must be more than 0")
    return seconds


def run(args: argparse.Namespace) -> int:
    from cachewatch.health.diagnose.collect import Options
    from cachewatch.health.diagnose.run import Request, main
    from cachewatch.health.keyspace import Budget
    from cachewatch.health.targets import TargetError

    options = Options(timeout=_seconds("--timeout", args.timeout),
                      latency_seconds=_seconds("--latency-window", args.latency_window))
    if args.key_budget < 1:
        _usage_error("--key-budget: must be at least 1")
    budget = Budget(keys=args.key_budget, seconds=_seconds("--time-budget", args.time_budget)) \
        if args.keyspace else None
    spec, urls = None, ()
    if "://" in args.target:
        urls = (args.target,)
    else:
        from cachewatch.cli.spec import load

        spec = load(args.target)  # prints one line per problem
        if spec is None:
            return EX_USAGE
    try:
        request = Request(spec=spec, urls=urls, as_json=args.json, options=options, keyspace=budget,
                          user=args.redis_user, password_file=args.redis_password_file, tls=tls_settings(args),
                          environ=dict(os.environ))
        return main(request)
    except TargetError as exc:
        print(f"cachewatch diagnose: {exc}", file=sys.stderr)
        return EX_USAGE
    except KeyboardInterrupt:
        return 130
