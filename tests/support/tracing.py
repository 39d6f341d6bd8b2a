"""Helpers for client-library tests: an in-memory span pipeline, sample lookups and a unique key prefix."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler
from prometheus_client import CollectorRegistry

_prefixes = itertools.count()


@dataclass
class Recorder:
    """A tracer provider with an in-memory exporter, and a fresh registry: what one test records."""

    provider: TracerProvider
    exporter: InMemorySpanExporter
    registry: CollectorRegistry

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        spans = list(self.exporter.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def value(self, metric: str, **labels: str) -> float:
        """A sample's value, 0 when the series does not exist (yet)."""
        return self.registry.get_sample_value(metric, labels) or 0.0


def recorder(sampler: Sampler | None = None) -> Recorder:
    provider = TracerProvider(sampler=sampler or ParentBased(ALWAYS_ON))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Recorder(provider, exporter, CollectorRegistry())


def prefix(name: str) -> str:
    """A key prefix no other test uses (tests share one redis-server)."""
    return f"t{next(_prefixes)}:{name}:"
