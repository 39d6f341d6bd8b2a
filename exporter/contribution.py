"""What the exporter adds to ``cachewatch generate``: the Prometheus scrape and probe jobs that reach the fleet
through it."""

from __future__ import annotations

from cachewatch.artifacts import Contribution
from cachewatch.exporter.scrape_jobs import scrape_comment, scrape_jobs
from cachewatch.spec import FleetSpec


def contribution(spec: FleetSpec) -> Contribution:
    """The fleet's ``redis`` job(s) through ``/scrape``, the ``redis-probe`` jobs through ``/probe`` and the
    exporters' own ``cachewatch-exporter`` job."""
    return Contribution(part="exporter", scrape_jobs=scrape_jobs(spec), scrape_comment=scrape_comment(spec))
