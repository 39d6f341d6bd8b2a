"""``cachewatch validate DIR``: promtool and amtool over a generated directory."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="run promtool and amtool over generated artifacts", allow_abbrev=False)
    p.add_argument("out", metavar="DIR", help="a directory written by cachewatch generate")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cachewatch.pipeline.validate import checks, table

    results = checks(Path(args.out))
    print(table(results))
    return 0 if all(r.ok for r in results) else 1
