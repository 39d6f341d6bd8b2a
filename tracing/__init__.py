"""cachewatch.tracing: Prometheus metrics and OpenTelemetry spans for redis-py clients, and cache layers.

Quick start::

    import redis
    from cachewatch.tracing import configure_tracing, instrument
    configure_tracing(sample_ratio=0.01)          # OTLP to Jaeger on 127.0.0.1:4318
    client = instrument(redis.Redis(), cache="sessions").client
    users = ReadThroughCache(client, load_user, name="users", ttl=300, local=LocalCache(max_items=10_000, ttl=5))
"""

from cachewatch.tracing.export import ExportProcessor, Tracing, TracingSettings, configure_tracing
from cachewatch.tracing.facades import CacheMetricsCollector, CacheTracingService
from cachewatch.tracing.instrument import Instrumentation, instrument, instrumentation_of, uninstrument
from cachewatch.tracing.invalidation import AsyncInvalidationSubscriber, InvalidationSubscriber
from cachewatch.tracing.keys import KeyClassifier
from cachewatch.tracing.layers import ReadThroughCache, WarmReport
from cachewatch.tracing.layers_async import AsyncReadThroughCache
from cachewatch.tracing.local_cache import LocalCache
from cachewatch.tracing.metrics import ClientMetrics, metrics_for
from cachewatch.tracing.sampling import make_sampler
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
