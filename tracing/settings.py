"""What ``configure_tracing`` needs, merged from three sources in order of increasing precedence: the fleet spec's
``tracing`` section, the standard ``OTEL_*`` variables, and keyword arguments.

A typed, strict model like every other settings model of the project: a bad value, wherever it came from, fails
with one line per setting naming it, what is allowed and the value given (an endpoint's credentials scrubbed).
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, WrapValidator, field_validator
from pydantic_core import PydanticCustomError

from cachewatch.logs import REDACTED, redact
from cachewatch.spec.types import Duration, Strict, format_errors
from cachewatch.tracing.sampling import ratio_from_env

SOURCE = "tracing settings"
PROTOCOLS = ("http/protobuf", "grpc")


def allowed(what: str) -> WrapValidator:
    """Any problem with the value becomes ``allowed <what>``: the operator reads what to write, not which
    internal constraint failed."""

    def check(value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("allowed", "allowed {what}", {"what": what}) from None

    return WrapValidator(check)


Ratio = Annotated[float, Field(strict=True, ge=0.0, le=1.0), allowed("a number from 0.0 to 1.0")]
Seconds = Annotated[Duration, allowed("a number of seconds > 0 (or a duration: 500ms, 5s)")]
QueueSize = Annotated[int, Field(strict=True, ge=1), allowed("an integer >= 1")]
Protocol = Annotated[Literal["http/protobuf", "grpc"], allowed(", ".join(PROTOCOLS))]
Endpoint = Annotated[str, Field(strict=True), allowed("http(s)://host:port")]


class TracingSettings(Strict):
    """Everything configure_tracing needs; ``from_sources()`` merges spec, environment and arguments."""

    service_name: str = "cachewatch-app"
    sample_ratio: Ratio = 0.01
    keep_errors_and_slow: bool = False
    slow_threshold: Seconds = 0.01
    otlp_protocol: Protocol = "http/protobuf"  # before otlp_endpoint: the endpoint's check reads it
    otlp_endpoint: Endpoint = "http://127.0.0.1:4318"
    export_queue_size: QueueSize = 2048
    export_timeout: Seconds = 5.0

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        if not value.startswith(("http://", "https://")):
            raise PydanticCustomError("allowed", "allowed http(s)://host:port")
        if info.data.get("otlp_protocol") == "grpc" and "@" in urlsplit(value).netloc:
            raise PydanticCustomError("allowed", "allowed http(s)://host:port without user:password over grpc "
                                                 "(send credentials with OTEL_EXPORTER_OTLP_HEADERS)")
        return value

    @classmethod
    def from_sources(cls, spec_tracing: Any = None, **overrides: Any) -> TracingSettings:
        """The spec's values, then ``OTEL_*``, then ``overrides`` (None means not given); ValueError with one line
        per bad setting."""
        names = cls.model_fields
        values: dict[str, Any] = {}
        if spec_tracing is not None:
            values.update({name: getattr(spec_tracing, name) for name in names if hasattr(spec_tracing, name)})
        values.update(_from_env(values.get("sample_ratio", names["sample_ratio"].default)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown tracing settings {unknown}; allowed: {', '.join(names)}")
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ValueError(format_errors(exc, SOURCE, shown=_shown)) from None


def _shown(loc: tuple, value: object, kind: str) -> str:
    """The value as the operator wrote it (``repr``), an endpoint with its userinfo scrubbed."""
    if loc[:1] == ("otlp_endpoint",):
        return repr(_safe_endpoint(str(value)))
    return repr(value)


def _safe_endpoint(url: str) -> str:
    """``url`` with its userinfo scrubbed, with or without a scheme: ``redact`` only recognises
    ``scheme://user:password@``, and a scheme-less endpoint is exactly the one that ends up in an error."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = f"{REDACTED}@{authority.rpartition('@')[2]}"
    return redact(f"{scheme}{sep}{authority}{slash}{path}")


def _from_env(default_ratio: float) -> dict[str, Any]:
    env = os.environ
    values: dict[str, Any] = {}
    if env.get("OTEL_SERVICE_NAME"):
        values["service_name"] = env["OTEL_SERVICE_NAME"]
    if env.get("OTEL_TRACES_SAMPLER"):
        values["sample_ratio"] = ratio_from_env(default_ratio)
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint:
        values["otlp_endpoint"] = endpoint.removesuffix("/v1/traces").rstrip("/")
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol:
        values["otlp_protocol"] = protocol
    return values
