"""cachewatch.tracing: Prometheus metrics and OpenTelemetry spans for redis-py clients; the read-through cache
layers built on them (:mod:`cachewatch.tracing.layers`); the trace pipeline's collector configs as this part's
contribution to ``cachewatch generate`` (:mod:`cachewatch.tracing.contribution`).

Quick start::

    import redis
    from cachewatch.tracing import configure_tracing, instrument
    configure_tracing(sample_ratio=0.01)          # OTLP to Jaeger on 127.0.0.1:4318
    client = instrument(redis.Redis(), cache="sessions").client
    users = ReadThroughCache(client, load_user, name="users", ttl=300, local=LocalCache(max_items=10_000, ttl=5))
"""

from cachewatch.tracing.config import Tracing, configure_tracing
from cachewatch.tracing.export import ExportProcessor
from cachewatch.tracing.facades import CacheMetricsCollector, CacheTracingService
from cachewatch.tracing.instrument import Instrumentation, instrument, instrumentation_of, uninstrument
from cachewatch.tracing.keys import KeyClassifier
from cachewatch.tracing.layers import (
    AsyncInvalidationSubscriber,
    AsyncReadThroughCache,
    InvalidationSubscriber,
    LocalCache,
    ReadThroughCache,
    WarmReport,
)
from cachewatch.tracing.metrics import ClientMetrics, metrics_for
from cachewatch.tracing.sampling import make_sampler
from cachewatch.tracing.settings import TracingSettings
from cachewatch.tracing.spans import SpanFactory

__all__ = [
    "AsyncInvalidationSubscriber",
    "AsyncReadThroughCache",
    "CacheMetricsCollector",
    "CacheTracingService",
    "ClientMetrics",
    "ExportProcessor",
    "Instrumentation",
    "InvalidationSubscriber",
    "KeyClassifier",
    "LocalCache",
    "ReadThroughCache",
    "SpanFactory",
    "Tracing",
    "TracingSettings",
    "WarmReport",
    "configure_tracing",
    "instrument",
    "instrumentation_of",
    "make_sampler",
    "metrics_for",
    "uninstrument",
]
