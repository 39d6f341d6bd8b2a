"""``cachewatch demo``: a local redis-server, the exporter and an instrumented client, and what they export."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="start a local redis-server and the exporter, print what it exports",
                       allow_abbrev=False)
    p.add_argument("--redis-addr", metavar="URL", help="use this Redis instead of starting one")
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT")
    p.add_argument("--serve", action="store_true", help="keep the exporter running after the sample")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cachewatch.pipeline.demo import demo

    return demo(args.redis_addr, args.listen, args.serve)
