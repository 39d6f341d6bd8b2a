"""``/probe?target=redis://host:port&module=health|replication|config[&kind=cache|store][&auth_module=NAME]``:
active probes in blackbox_exporter's style.

The exporter owns the route (allowlist, credentials, the deadline from Prometheus' scrape-timeout header, the
exposition); the probe itself is a hook. The top floor passes a ``Prober`` (the health part's probe, adapted)
into ``Exporter(..., prober=...)``, so the exporter never imports the health part. Without one, /probe answers
404. A prober returns plain ``(family, labels, value)`` samples of catalog families; this module renders them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from cachewatch.exporter.credentials import Credentials
from cachewatch.exporter.exposition import MetricSet, labels
from cachewatch.exporter.targets import Target

log = logging.getLogger("cachewatch.exporter.probe")
DEFAULT_MODULE = "health"
KINDS = ("cache", "store")  # the spec's cluster kind: it changes what the memory and persistence checks mean
DEFAULT_KIND = "cache"
GRACE = 0.25  # seconds past its deadline before the route stops waiting for a prober that overran it
Sample = tuple[str, Mapping[str, str], float]


class Prober(Protocol):
    """Probes one node within ``timeout`` seconds and never raises for the node's failures."""

    modules: Sequence[str]  # the ``module`` values it accepts; the first is not implied, DEFAULT_MODULE is

    async def __call__(self, target: Target, credentials: Credentials, *, module: str, kind: str,
                       timeout: float) -> Sequence[Sample]: ...


def bad_argument(prober: Prober, module: str, kind: str) -> str:
    """Why the module or kind cannot be probed ("" when both are fine); the text names the allowed values."""
    if module not in prober.modules:
        return f"unknown module {module!r}; allowed: {', '.join(prober.modules)}"
    if kind not in KINDS:
        return f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}"
    return ""


def render(samples: Sequence[Sample]) -> str:
    """Samples → exposition text, HELP/TYPE from the catalog (an unknown family fails loudly: a prober bug)."""
    out = MetricSet()
    for family, label_map, value in samples:
        out.add(family, value, labels(*label_map.items()))
    return out.render()


async def run_probe(prober: Prober, target: Target, credentials: Credentials, *, module: str, kind: str,
                    timeout: float) -> str:
    """The probe's exposition; a prober that raises or overruns its deadline reads as a failed probe."""
    try:
        async with asyncio.timeout(timeout + GRACE):
            samples = await prober(target, credentials, module=module, kind=kind, timeout=timeout)
    except Exception as exc:  # a prober bug must not turn into a 500 for Prometheus: the probe failed
        log.error("prober failed", extra={"target": target.url, "module": module, "error": type(exc).__name__})
        samples = [("redis_probe_success", {}, 0.0)]
    return render(samples)
