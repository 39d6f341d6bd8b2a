"""``cachewatch docs``: the repository's docs/metrics.md (catalog), docs/checks.md (health checks),
docs/runbooks.md (alerts at default thresholds) and docs/alert-latency.md (each critical alert's time to a
notification at the default intervals)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("docs", help="write docs/metrics.md (catalog), docs/checks.md (health checks), "
                       "docs/runbooks.md (alerts at default thresholds) and docs/alert-latency.md (time to a "
                       "notification at the default intervals)", allow_abbrev=False)
    p.add_argument("--out", default="docs", metavar="DIR", help="directory to write into (default docs)")
    p.add_argument("--check", action="store_true", help="fail with a diff if the files are not up to date")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cachewatch.pipeline.alert_latency import default_alert_latency
    from cachewatch.pipeline.checks_doc import checks_markdown
    from cachewatch.pipeline.metrics_doc import metrics_markdown
    from cachewatch.pipeline.runbooks import default_runbooks
    from cachewatch.pipeline.writer import stale, write

    out = Path(args.out)
    texts = {"metrics.md": metrics_markdown(), "checks.md": checks_markdown(), "runbooks.md": default_runbooks(),
             "alert-latency.md": default_alert_latency()}
    if args.check:
        diff = stale(out, texts, only_these=True)
        if diff:
            print(diff, end="", file=sys.stderr)
            print("docs out of date; run: cachewatch docs", file=sys.stderr)
            return 1
        return 0
    for path in write(out, texts):
        print(f"wrote {path}")
    return 0
