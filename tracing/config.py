"""``configure_tracing``: the whole tracer provider (sampler, resource, export processor, OTLP exporter) from the
fleet spec's ``tracing`` section, the standard ``OTEL_*`` variables and arguments (see :mod:`.settings`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry

from cachewatch.tracing.export import ExportProcessor
from cachewatch.tracing.sampling import make_sampler
from cachewatch.tracing.settings import TracingSettings


def make_exporter(settings: TracingSettings) -> SpanExporter:
    """OTLP over HTTP (``/v1/traces``) or gRPC, to Jaeger's native receiver (4318 / 4317)."""
    if settings.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        # host:port only: gRPC takes credentials in headers, and the exporter logs its target on every failure
        url = urlsplit(settings.otlp_endpoint)
        return GrpcExporter(endpoint=url.netloc.rpartition("@")[2], insecure=url.scheme == "http",
                            timeout=settings.export_timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=f"{settings.otlp_endpoint}/v1/traces", timeout=settings.export_timeout)


@dataclass
class Tracing:
    """What configure_tracing built; ``shutdown()`` flushes within the processor's deadline."""

    provider: TracerProvider
    processor: ExportProcessor
    settings: TracingSettings
    registry: CollectorRegistry | None = None

    def shutdown(self) -> None:
        self.provider.shutdown()

    def instrument(self, client: Any, **kwargs: Any) -> Any:
        """``instrument(client)`` with this provider and the same slow threshold, so that in keep-errors-and-slow
        mode every operation the processor would keep as slow also gets a span."""
        from cachewatch.tracing.instrument import instrument

        kwargs.setdefault("tracer_provider", self.provider)
        kwargs.setdefault("slow_threshold", self.settings.slow_threshold)
        kwargs.setdefault("registry", self.registry)
        return instrument(client, **kwargs)


def configure_tracing(spec_tracing: Any = None, *, registry: CollectorRegistry | None = None,
                      set_global: bool = True, exporter: SpanExporter | None = None,
                      resource_attributes: dict[str, str] | None = None, **overrides: Any) -> Tracing:
    """A TracerProvider with ParentBased(TraceIdRatioBased) sampling and OTLP export, from the fleet spec's
    ``tracing`` section (``spec.tracing``), ``OTEL_*`` variables and keyword overrides (``sample_ratio=``,
    ``otlp_endpoint=``, ...). ``exporter`` replaces the OTLP exporter (tests, custom backends)."""
    settings = TracingSettings.from_sources(spec_tracing, **overrides)
    resource = Resource.create({SERVICE_NAME: settings.service_name, **(resource_attributes or {})})
    provider = TracerProvider(resource=resource,
                              sampler=make_sampler(settings.sample_ratio, settings.keep_errors_and_slow))
    keep = settings.keep_errors_and_slow
    processor = ExportProcessor(exporter or make_exporter(settings), max_queue_size=settings.export_queue_size,
                                keep_errors=keep, keep_slower_than=settings.slow_threshold if keep else None,
                                registry=registry, shutdown_timeout=settings.export_timeout)
    provider.add_span_processor(processor)
    if set_global:
        trace.set_tracer_provider(provider)
    return Tracing(provider, processor, settings, registry)
