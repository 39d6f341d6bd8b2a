"""Series per Redis node: what each metric family costs, ours against the peer, and what each reduction saves.

Starts a real primary + replica for each exporter (redis-server from apt), runs a cache application's command
mix on them (tests/support/command_mix.py: 29 commands on the primary, 10 reads on the replica), then scrapes
through ``/scrape`` as Prometheus does: our exporter (``python -m cachewatch exporter``) with each reduction
option of ``exporter.series`` (cachewatch/spec/series.py), and the peer (Debian's prometheus-redis-exporter).
Prints series per family for both, sorted by cost, the totals, the totals under each option next to what
``family_filter.count`` predicts from the default scrape, and the ``/probe`` series per node.

    .venv/bin/python bench/series_per_node.py [--rounds N] [--json out.json] [--write]

``--write`` stores the measurement (the default scrape's shape per role, the probe series, the date and the
versions) in cachewatch/pipeline/series_measured.py, which docs/capacity.md is computed from.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from pprint import pformat

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cachewatch import __version__ as CACHEWATCH_VERSION  # noqa: E402
from cachewatch.exporter.family_filter import count, shape_of  # noqa: E402
from cachewatch.local_redis import RedisServer, require_binary  # noqa: E402
from cachewatch.spec.series import REDUCTIONS, SeriesReduction  # noqa: E402
from tests.support.command_mix import (  # noqa: E402
    ROUNDS,
    WORKLOAD,
    Pair,
    commands_seen,
    metric_set,
    mixed_pair,
    series_per_family,
)
from tests.support.exporter_process import ExporterProcess, start_exporter, start_peer  # noqa: E402

OUT = ROOT / "cachewatch" / "pipeline" / "series_measured.py"
SCRAPES = 3  # the exporters' own commands are in commandstats from the second scrape on; the third is counted
OPTIONS = REDUCTIONS
PROBES = {"health": ("primary", "replica"), "replication": ("primary",)}


def scrape(exporter: ExporterProcess, server: RedisServer, path: str = "/scrape", extra: str = "") -> str:
    body = ""
    for _ in range(SCRAPES):
        result = exporter.get(f"{path}?target=redis://127.0.0.1:{server.port}{extra}")
        if result.status != 200:
            raise RuntimeError(f"{path} answered {result.status}: {result.body[:200]}")
        body = result.body
        time.sleep(0.2)
    return body


def ours(pair: Pair, option: SeriesReduction) -> dict[str, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="cw-series-") as config:
        yaml.safe_dump({"series": option.model_dump()}, config)
        config.flush()
        with start_exporter("--allow-target", "127.0.0.1:*", "--config", config.name) as exporter:
            return {role: scrape(exporter, server) for role, server in pair.by_role().items()}


def probes(pair: Pair) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Series of each /probe module by role, and the exporter's own /metrics after serving both roles (all of
    it, and its python_* part, which scale mode keeps out of the long-term store)."""
    with start_exporter("--allow-target", "127.0.0.1:*") as exporter:
        out = {
            module: {
                role: sum(
                    series_per_family(scrape(exporter, pair.by_role()[role], "/probe", f"&module={module}")).values()
                )
                for role in roles
            }
            for module, roles in PROBES.items()
        }
        for server in pair.by_role().values():
            scrape(exporter, server)
        own = series_per_family(exporter.get("/metrics").body)
    return out, {"total": sum(own.values()), "python": sum(n for f, n in own.items() if f.startswith("python_"))}


def peer(pair: Pair) -> dict[str, str]:
    with start_peer() as exporter:
        return {role: scrape(exporter, server) for role, server in pair.by_role().items()}


def versions(pair: Pair) -> dict[str, str]:
    info = pair.primary.cli("INFO", "server")
    redis_version = re.search(r"redis_version:(\S+)", info)
    text = subprocess.run(
        [require_binary("prometheus-redis-exporter"), "--version"], capture_output=True, text=True, timeout=10
    )
    peer_version = re.search(r"Exporter (\d+\.\d+\.\d+)", text.stdout + text.stderr)
    return {
        "redis": redis_version[1] if redis_version else "?",
        "cachewatch": CACHEWATCH_VERSION,
        "redis_exporter": peer_version[1] if peer_version else "?",
    }


def measure(rounds: int) -> dict:
    with mixed_pair(rounds) as ours_pair, mixed_pair(rounds) as peer_pair:
        # Steady state: an exporter's own commands (LATENCY HISTOGRAM, ACL LOG, ...) first run after its first
        # full latency fetch, so a fresh exporter serves their histograms only a refresh period (60 s) later. A
        # warm-up exporter runs them first; each measured exporter's first fetch then finds every command.
        ours(ours_pair, SeriesReduction())
        scrapes = {name: ours(ours_pair, option) for name, (_, option) in OPTIONS.items()}
        probe_series, own = probes(ours_pair)
        return {
            "versions": versions(ours_pair),
            "ours": scrapes,
            "peer": peer(peer_pair),
            "probes": probe_series,
            "own": own,
        }


def report(result: dict, rounds: int) -> dict:
    """Print the tables; return the figures (for --json and --write)."""
    default, peer_text = result["ours"]["default"], result["peer"]
    fams = {
        side: {role: series_per_family(text) for role, text in texts.items()}
        for side, texts in (("ours", default), ("peer", peer_text))
    }
    v = result["versions"]
    print(
        f"# Series per node: cachewatch {v['cachewatch']} vs redis_exporter {v['redis_exporter']}, "
        f"redis-server {v['redis']}, mix of {rounds} rounds (tests/support/command_mix.py)\n"
    )
    for role in ("primary", "replica"):
        print(
            f"commands in the per-command families, {role}: ours {len(commands_seen(default[role]))}, "
            f"peer {len(commands_seen(peer_text[role]))}"
        )
    print("\n| family | ours primary | ours replica | peer primary | peer replica |\n|---|---:|---:|---:|---:|")
    names = set().union(*(f.keys() for side in fams.values() for f in side.values()))
    cost = sorted(names, key=lambda n: (-max(fams["ours"]["primary"][n], fams["peer"]["primary"][n]), n))
    for name in cost:
        cells = [fams[side][role][name] for side in ("ours", "peer") for role in ("primary", "replica")]
        print(f"| {name} | " + " | ".join(str(c or "–") for c in cells) + " |")
    totals = {side: {role: sum(f.values()) for role, f in roles.items()} for side, roles in fams.items()}
    counts = {side: {role: len(f) for role, f in roles.items()} for side, roles in fams.items()}
    print(
        f"| **total series** | **{totals['ours']['primary']}** | **{totals['ours']['replica']}** | "
        f"**{totals['peer']['primary']}** | **{totals['peer']['replica']}** |"
    )
    print(
        f"| families | {counts['ours']['primary']} | {counts['ours']['replica']} | {counts['peer']['primary']} | "
        f"{counts['peer']['replica']} |"
    )
    shapes = {role: shape_of(metric_set(text)) for role, text in default.items()}
    print("\n## Ours under each reduction option (exporter.series), through /scrape\n")
    print(
        "| option | what | primary | replica | predicted primary | predicted replica |\n|---|---|---:|---:|---:|---:|"
    )
    options = {}
    for name, (what, option) in OPTIONS.items():
        measured = {role: sum(series_per_family(text).values()) for role, text in result["ours"][name].items()}
        predicted = {role: count(shape, option) for role, shape in shapes.items()}
        options[name] = {"what": what, "measured": measured, "predicted": predicted}
        print(
            f"| {name} | {what} | {measured['primary']} | {measured['replica']} | {predicted['primary']} | "
            f"{predicted['replica']} |"
        )
    print(f"\n/probe series per node: {json.dumps(result['probes'])} (plus Prometheus' 5 per scrape job and target)")
    print(f"the exporter's own /metrics: {result['own']['total']} series ({result['own']['python']} python_*)")
    return {
        "versions": v,
        "rounds": rounds,
        "families": {s: {r: dict(f) for r, f in rs.items()} for s, rs in fams.items()},
        "totals": totals,
        "options": options,
        "probes": result["probes"],
        "own": result["own"],
        "shapes": {role: shape.rows() for role, shape in shapes.items()},
    }


def write_table(figures: dict) -> None:
    """cachewatch/pipeline/series_measured.py: the data docs/capacity.md is computed from."""

    def data(name: str, value: object) -> str:
        return f"{name} = {pformat(value, width=108, compact=True)}\n"

    text = (
        '''"""Series per node as measured by bench/series_per_node.py; docs/capacity.md is computed from it.

Regenerate with ``.venv/bin/python bench/series_per_node.py --write`` after a change to what the exporter serves.
``SHAPES`` is what one ``/scrape`` of each role served by default (the workload below): series per family, each
command's finite histogram bounds, and its series per per-command family (``family_filter.Shape.rows``: one row in
``PER_COMMAND_FAMILIES`` order), from which ``family_filter.count`` predicts the series under any
``exporter.series`` option.
"""

# fmt: off
'''
        + data("MEASURED", datetime.date.today().isoformat())
        + data("VERSIONS", figures["versions"])
        + data("WORKLOAD", f"tests/support/command_mix.py, {figures['rounds']} rounds: {WORKLOAD}")
        + data("PEER_SERIES", figures["totals"]["peer"])
        + data("PROBE_SERIES", figures["probes"])
        + data("EXPORTER_OWN_SERIES", figures["own"])
        + data("SHAPES", figures["shapes"])
        + "# fmt: on\n"
    )
    OUT.write_text(text)
    print(f"\nwrote {OUT.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds of the command mix (default {ROUNDS})")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--write", action="store_true", help="store the measurement for docs/capacity.md")
    args = parser.parse_args()
    figures = report(measure(args.rounds), args.rounds)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, sort_keys=True))
    if args.write:
        write_table(figures)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: every redis-server and exporter started is stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
