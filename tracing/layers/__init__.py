"""The read-through cache layers (in-process L1 → Redis → origin), traced and counted, and their L1
invalidation across processes. A product of its own beside the client instrumentation, which it builds on.

- :mod:`.core`: what the sync and asyncio caches share (options, attributes, metrics, failure policy);
- :mod:`.read_through` / :mod:`.read_through_async`: the caches for redis-py's sync and asyncio clients;
- :mod:`.single_flight`: one origin load per missing key, however many callers wait for it;
- :mod:`.local_cache`: the bounded TTL + LRU L1;
- :mod:`.invalidation`: L1 invalidation over Redis pub/sub, carrying the trace context;
- :mod:`.serializers`: values ↔ Redis bytes.
"""

from cachewatch.tracing.layers.core import CacheCore, WarmReport
from cachewatch.tracing.layers.invalidation import AsyncInvalidationSubscriber, InvalidationSubscriber
from cachewatch.tracing.layers.local_cache import MISSING, LocalCache
from cachewatch.tracing.layers.read_through import ReadThroughCache
from cachewatch.tracing.layers.read_through_async import AsyncReadThroughCache
from cachewatch.tracing.layers.serializers import BytesSerializer, JsonSerializer, Serializer

__all__ = [
    "MISSING",
    "AsyncInvalidationSubscriber",
    "AsyncReadThroughCache",
    "BytesSerializer",
    "CacheCore",
    "InvalidationSubscriber",
    "JsonSerializer",
    "LocalCache",
    "ReadThroughCache",
    "Serializer",
    "WarmReport",
]
