"""The shape of one catalog entry: a metric family the project emits or reads."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MetricType(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"
    SUMMARY = "summary"


class Source(StrEnum):
    EXPORTER = "exporter"
    EXPORTER_SELF = "exporter-self"
    CLIENT = "client"
    RECORDING = "recording"
    PROMETHEUS = "prometheus"
    LIFECYCLE = "lifecycle"


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family.

    ``info_field`` names the INFO (or CLUSTER INFO) field the value is read from, so the
    exporter's field → family mapping is derived from the catalog instead of kept twice.
    ``peer`` is true where Debian's redis_exporter 1.45 emits the same family against
    Redis 7.0: those names, label names and types are a compatibility contract.
    ``compat`` explains a name that breaks a Prometheus naming rule on purpose.
    """

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    source: Source = Source.EXPORTER
    info_field: str = ""
    scale: float = 1.0
    peer: bool = False
    compat: str = ""
    group: str = ""
