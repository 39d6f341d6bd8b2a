"""``cachewatch spec schema`` and ``cachewatch spec check SPEC``."""

from __future__ import annotations

import argparse
import sys

from cachewatch.spec import FleetSpec


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spec", help="the fleet spec: print its JSON Schema, or check a spec file", allow_abbrev=False)
    spec_sub = p.add_subparsers(dest="spec_command", required=True)
    schema = spec_sub.add_parser("schema", help="print the JSON Schema of the fleet spec (for editors)")
    schema.set_defaults(func=run_schema)
    check = spec_sub.add_parser("check", help="load a spec and report every problem")
    check.add_argument("spec", metavar="SPEC", help="a .py file exposing `spec`, or YAML of the same schema")
    check.set_defaults(func=run_check)


def load(path: str) -> FleetSpec | None:
    """The spec, or None after printing one line per problem (the caller exits 2)."""
    from cachewatch.spec import SpecError, load_spec

    try:
        return load_spec(path)
    except SpecError as exc:
        print(str(exc), file=sys.stderr)
        return None


def run_schema(args: argparse.Namespace) -> int:
    from cachewatch.spec import json_schema

    print(json_schema())
    return 0


def run_check(args: argparse.Namespace) -> int:
    from cachewatch.pipeline.secret_files import newline_warnings

    spec = load(args.spec)
    if spec is None:
        return 2
    for warning in newline_warnings(spec):
        print(warning, file=sys.stderr)
    nodes = sum(len(cluster.nodes) for _, cluster in spec.clusters)
    print(f"{args.spec}: ok ({len(spec.regions)} regions, {len(spec.clusters)} clusters, {nodes} nodes, "
          f"{len(spec.teams)} teams, {len(spec.slos)} SLOs)")
    return 0
