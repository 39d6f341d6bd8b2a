"""``cachewatch generate SPEC --out DIR [--check]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cachewatch.cli.spec import load

EX_SOFTWARE = 70  # sysexits.h: an internal error, as distinct from a bad spec (2)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="spec → Prometheus rules, tests, scrape config, Alertmanager routing, "
                       "PrometheusRule, jsonnet mixin, runbooks, Grafana dashboards and provisioning, "
                       "tail-sampling configs for an OpenTelemetry Collector and Jaeger v2", allow_abbrev=False)
    p.add_argument("spec", metavar="SPEC", help="a .py file exposing `spec`, or YAML of the same schema")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write the artifacts into")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 with a diff if DIR differs from what the spec generates (for CI)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cachewatch.artifacts import GeneratorError
    from cachewatch.pipeline.build import build
    from cachewatch.pipeline.secret_files import newline_warnings
    from cachewatch.pipeline.writer import stale, write
    from cachewatch.spec import SpecError

    spec = load(args.spec)
    if spec is None:
        return 2
    for warning in newline_warnings(spec):  # the files may be written later: a warning, not a failure
        print(warning, file=sys.stderr)
    start, out = time.perf_counter(), Path(args.out)
    try:
        texts = build(spec).texts()
    except SpecError as exc:  # found only while generating (e.g. a secret Alertmanager cannot read)
        print(str(exc), file=sys.stderr)
        return 2
    except GeneratorError:
        print("cachewatch generate: internal error: the generators produced something inconsistent. This is a "
              "bug in cachewatch, not in your spec; please report it with this output.", file=sys.stderr)
        raise
    if args.check:
        diff = stale(out, texts)
        if diff:
            print(diff, end="")
            print(f"{args.out} is not what {args.spec} generates; run: cachewatch generate {args.spec} "
                  f"--out {args.out}", file=sys.stderr)
            return 1
        print(f"{args.out}: {len(texts)} files up to date")
        return 0
    written = write(out, texts)
    print(f"wrote {len(written)} files under {args.out} in {time.perf_counter() - start:.2f}s")
    return 0
