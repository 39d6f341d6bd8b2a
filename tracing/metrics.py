"""The client library's Prometheus metrics: one collector per registry, fed lock-free from the command path.

The per-command families (``db_client_operation_duration_seconds``, ``cache_requests_total``) come from
:mod:`.accumulators`, read when Prometheus scrapes; rarer events (errors, connection failures, pool waits of
blocking pools, connection set-up, span export) use prometheus_client's own Counter and Histogram. Names, help
and labels come from the metric catalog. prometheus_client renders everything, exemplars included
(OpenMetrics).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from cachewatch.catalog import family
from cachewatch.tracing.accumulators import KeyedCounts

if TYPE_CHECKING:
    from cachewatch.tracing.telemetry import Telemetry

# Loopback GETs take 50-150 µs, so the first buckets sit well below 100 µs (the semconv advisory
# buckets start at 1 ms, which would put every cache hit in the first bucket).
DURATION_BUCKETS: tuple[float, ...] = (
    0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)
POOL_WAIT_BUCKETS: tuple[float, ...] = (
    0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
)
CONNECT_BUCKETS: tuple[float, ...] = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_SYSTEM = "redis"
_LE = (*(floatToGoString(b) for b in DURATION_BUCKETS), "+Inf")

# (in_use, idle, max) of a pool, read at scrape time; None when the pool cannot be read (closed, foreign type)
PoolReader = Callable[[], tuple[int, int, int] | None]


def _counter(name: str, registry: CollectorRegistry) -> Counter:
    fam = family(name)
    return Counter(name.removesuffix("_total"), fam.help, fam.labels, registry=registry)


def _histogram(name: str, registry: CollectorRegistry, buckets: tuple[float, ...]) -> Histogram:
    fam = family(name)
    return Histogram(name, fam.help, fam.labels, registry=registry, buckets=buckets)


class ClientCollector(Collector):
    """Renders the accumulator-backed families and the pool gauges at scrape time."""

    def __init__(self) -> None:
        self.sources: weakref.WeakSet[Telemetry] = weakref.WeakSet()
        self.requests = KeyedCounts()  # (cache, operation, result, key_class) counted off the command path
        # counts of clients that were garbage-collected: counters must not go backwards when a client goes
        self.retired: dict[tuple[str, str], tuple[list[float], bool]] = {}
        self.retired_exemplars: dict[tuple[str, str], dict[int, Any]] = {}  # a dropped client's links stay
        self.pool_readers: dict[int, tuple[str, PoolReader]] = {}
        self.pools_recorded: dict[str, tuple[int, int, int]] = {}
        self.lock = threading.Lock()

    def register(self, tel: Telemetry) -> None:
        self.sources.add(tel)
        weakref.finalize(tel, self._retire, tel.cache, tel.ops)

    def _retire(self, cache: str, ops: dict[Any, Any]) -> None:
        with self.lock:
            for op in {id(op): op for op in ops.values()}.values():
                totals, old = op.stats.totals(), self.retired.get((op.name, cache))
                merged = totals if old is None else [a + b for a, b in zip(old[0], totals, strict=True)]
                self.retired[(op.name, cache)] = (merged, op.reads is not None)
                _latest(self.retired_exemplars.setdefault((op.name, cache), {}), op.stats.exemplar_objects())

    # --- pools --------------------------------------------------------------------------------------------
    def add_pool(self, cache: str, reader: PoolReader) -> int:
        with self.lock:
            token = id(reader)
            self.pool_readers[token] = (cache, reader)
            return token

    def remove_pool(self, token: int) -> None:
        with self.lock:
            self.pool_readers.pop(token, None)

    def record_pool(self, cache: str, in_use: int, idle: int, max_connections: int) -> None:
        with self.lock:
            self.pools_recorded[cache] = (in_use, idle, max_connections)

    def pool_totals(self) -> dict[str, tuple[int, int, int]]:
        with self.lock:
            readers = list(self.pool_readers.values())
            totals = dict(self.pools_recorded)
        for cache, reader in readers:
            try:
                state = reader()
            except Exception:  # a pool mid-teardown must not break the scrape of everything else
                state = None
            if state is not None:
                old = totals.get(cache, (0, 0, 0))
                totals[cache] = (old[0] + state[0], old[1] + state[1], old[2] + state[2])
        return totals

    # --- collection ---------------------------------------------------------------------------------------
    def collect(self) -> Iterator[Any]:
        durations: dict[tuple[str, str], list[float]] = {}
        reads: set[tuple[str, str]] = set()
        exemplars: dict[tuple[str, str], dict[int, Any]] = {}
        requests = self.requests.totals()
        with self.lock:
            for key, (totals, is_read) in self.retired.items():
                durations[key] = list(totals)
                if is_read:
                    reads.add(key)
            for key, marks in self.retired_exemplars.items():
                exemplars[key] = dict(marks)
        for tel in list(self.sources):
            for op in {id(op): op for op in list(tel.ops.values())}.values():
                key = (op.name, tel.cache)
                totals = op.stats.totals()
                if key in durations:
                    durations[key] = [a + b for a, b in zip(durations[key], totals, strict=True)]
                else:
                    durations[key] = totals
                if op.reads is not None:
                    reads.add(key)
                _latest(exemplars.setdefault(key, {}), op.stats.exemplar_objects())
        hits = len(DURATION_BUCKETS) + 2  # slot layout of OpStats: buckets, +Inf, sum, hits, misses
        for key in reads:
            operation, cache = key
            for result, slot in (("hit", hits), ("miss", hits + 1)):
                if durations[key][slot]:
                    rkey = (cache, operation, result, "")
                    requests[rkey] = requests.get(rkey, 0) + int(durations[key][slot])
        yield self._durations(durations, exemplars)
        yield self._requests(requests)
        yield from self._pools()

    @staticmethod
    def _durations(durations: dict[tuple[str, str], list[float]],
                   exemplars: dict[tuple[str, str], dict[int, Any]]) -> HistogramMetricFamily:
        fam = family("db_client_operation_duration_seconds")
        out = HistogramMetricFamily(fam.name, fam.help, labels=fam.labels, unit="")
        width = len(_LE)
        for (operation, cache), totals in sorted(durations.items()):
            cumulative, buckets = 0.0, []
            marks = exemplars.get((operation, cache), {})
            for index in range(width):
                cumulative += totals[index]
                buckets.append((_LE[index], cumulative, marks.get(index)) if index in marks
                               else (_LE[index], cumulative))
            if cumulative:
                out.add_metric([DB_SYSTEM, operation, cache], buckets, totals[width])
        return out

    @staticmethod
    def _requests(requests: dict[tuple[str, ...], int]) -> CounterMetricFamily:
        fam = family("cache_requests_total")
        out = CounterMetricFamily(fam.name.removesuffix("_total"), fam.help, labels=fam.labels)
        for labels, value in sorted(requests.items()):
            out.add_metric(list(labels), value)
        return out

    def _pools(self) -> Iterator[GaugeMetricFamily]:
        conns, maxc = family("cache_pool_connections"), family("cache_pool_max_connections")
        in_pool = GaugeMetricFamily(conns.name, conns.help, labels=conns.labels)
        maximum = GaugeMetricFamily(maxc.name, maxc.help, labels=maxc.labels)
        for cache, (in_use, idle, max_connections) in sorted(self.pool_totals().items()):
            in_pool.add_metric([cache, "in_use"], in_use)
            in_pool.add_metric([cache, "idle"], idle)
            maximum.add_metric([cache], max_connections)
        yield in_pool
        yield maximum

    def describe(self) -> list[Any]:
        """Names only, so the registry refuses a second collector with the same families."""
        return [HistogramMetricFamily("db_client_operation_duration_seconds", ""),
                CounterMetricFamily("cache_requests", ""),
                GaugeMetricFamily("cache_pool_connections", ""), GaugeMetricFamily("cache_pool_max_connections", "")]


def _latest(into: dict[int, Any], marks: dict[int, Any]) -> None:
    """Keep the newer exemplar of each bucket."""
    for index, exemplar in list(marks.items()):
        if index not in into or into[index].timestamp < exemplar.timestamp:
            into[index] = exemplar


class ClientMetrics:
    """Every client-library family in one registry. Get it with :func:`metrics_for`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.collector = ClientCollector()
        registry.register(self.collector)
        self.errors = _counter("cache_errors_total", registry)
        self.pool_wait = _histogram("cache_pool_wait_seconds", registry, POOL_WAIT_BUCKETS)
        self.connection_errors = _counter("cache_connection_errors_total", registry)
        self.connect_time = _histogram("cache_connection_create_seconds", registry, CONNECT_BUCKETS)
        self.spans_exported = _counter("cache_tracing_spans_exported_total", registry)
        self.spans_dropped = _counter("cache_tracing_spans_dropped_total", registry)

    def request(self, cache: str, operation: str, hit: bool, key_class: str = "", amount: int = 1) -> None:
        """Count cache reads outside the command path (cache layers, the facades, classified keys)."""
        if amount:
            self.collector.requests.add((cache, operation, "hit" if hit else "miss", key_class), amount)


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, ClientMetrics] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def metrics_for(registry: CollectorRegistry | None = None) -> ClientMetrics:
    """The one ``ClientMetrics`` of ``registry`` (default: prometheus_client's global REGISTRY)."""
    registry = REGISTRY if registry is None else registry
    with _LOCK:
        metrics = _BY_REGISTRY.get(registry)
        if metrics is None:
            metrics = _BY_REGISTRY[registry] = ClientMetrics(registry)
        return metrics
