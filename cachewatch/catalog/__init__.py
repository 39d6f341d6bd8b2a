"""The metric catalog: every family cachewatch emits or reads, in one place.

The exporter renders HELP/TYPE from here, the generators lint their expressions
against it, and ``docs/metrics.md`` is generated from it. Find a metric by grepping
its name under ``cachewatch/catalog``.
"""

from __future__ import annotations

from cachewatch.catalog.client_families import CLIENT_FAMILIES, PROMETHEUS_FAMILIES
from cachewatch.catalog.exporter_families import EXPORTER_FAMILIES
from cachewatch.catalog.lifecycle_families import LIFECYCLE_FAMILIES
from cachewatch.catalog.model import Family, MetricType, Source
from cachewatch.catalog.recording_families import RECORDING_FAMILIES
from cachewatch.catalog.redis_info import INFO_FAMILIES

__all__ = ["CATALOG", "Family", "MetricType", "Source", "families_by_source", "family"]


def _index(*groups: tuple[Family, ...]) -> dict[str, Family]:
    catalog: dict[str, Family] = {}
    for group in groups:
        for fam in group:
            if fam.name in catalog:
                raise ValueError(f"metric family {fam.name} declared twice in the catalog")
            catalog[fam.name] = fam
    return catalog


CATALOG: dict[str, Family] = _index(INFO_FAMILIES, EXPORTER_FAMILIES, CLIENT_FAMILIES, PROMETHEUS_FAMILIES,
                                    RECORDING_FAMILIES, LIFECYCLE_FAMILIES)


def family(name: str) -> Family:
    """Look up a family by name; a KeyError names the missing metric."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"metric {name!r} is not in the cachewatch metric catalog") from None

