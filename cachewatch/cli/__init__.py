"""The ``cachewatch`` command: argument parsing only, one module per subcommand.

Each module has ``add_parser(subparsers)`` (which sets ``func``) and the function it runs; the work itself is
done by the parts and the pipeline.
"""

from __future__ import annotations

import argparse
import sys

from cachewatch import __version__
from cachewatch.cli import alerts, demo, diagnose, docs, exporter, generate, health, spec, validate

SUBCOMMANDS = (exporter, demo, docs, spec, generate, validate, health, diagnose, alerts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cachewatch", description="Observability for fleets of Redis caches.",
                                     allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"cachewatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would echo the values too, and a value may be a password given as a flag
        flags = " ".join(arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")) or "(positional values)"
        hint = " (passwords: REDIS_PASSWORD or --redis-password-file)" if "password" in flags else ""
        print(f"cachewatch: error: unrecognized arguments: {flags}{hint}", file=sys.stderr)
        return getattr(args, "usage_exit", 2)  # a subcommand whose 2 means something else sets its own
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
