"""``cachewatch demo``: the whole stack on this machine (Redis primary + replica, the exporter, Prometheus,
Alertmanager, VictoriaMetrics when installed, the alert lifecycle service, an instrumented application), a fault,
its page and its ack; or, with ``--redis-addr``, only the exporter in front of an existing Redis."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole stack locally, inject a fault, follow its alert to an ack",
                       description="Starts everything under a temp directory on free ports, from a small embedded "
                                   "spec with short intervals; kills the replica, shows the page at a local "
                                   "receiver and as an episode in the console, acks it, heals it, and stops every "
                                   "process it started.", allow_abbrev=False)
    p.add_argument("--serve", action="store_true", help="keep everything running after the fault until Ctrl-C")
    p.add_argument("--redis-addr", metavar="URL", help="instead: only the exporter, in front of this Redis "
                   "(nothing is started next to it, written into it or killed)")
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT", help="with --redis-addr: where the "
                   "exporter listens")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cachewatch.pipeline.demo import demo

    return demo(args.redis_addr, args.listen, args.serve)
