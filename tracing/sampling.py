"""Head sampling that costs almost nothing when it says no, and samplers built from the spec or ``OTEL_*``.

The SDK decides inside ``start_span``, after building the context, ids and attributes: about 4-5 µs for a
span that is then dropped, 5% of a loopback GET (reference/tracing.md §6). At 1% sampling that is the whole
budget. So when the provider's sampler is one we can read (``ParentBased`` over ``TraceIdRatioBased`` or a
static sampler, optionally inside ``AlwaysRecordSampler``), the hot path takes the same decision itself:
a parent's sampled flag, or for a root ``trace_id & (2**64-1) < bound`` on a trace id it draws. Only when the
answer is yes does it call the SDK, handing the drawn trace id over through the tracer's id generator, so the
SDK's sampler, seeing the same id, agrees. Any other sampler gets the plain SDK path (correct, slower).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.trace.id_generator import IdGenerator

MASK64 = (1 << 64) - 1
ALWAYS = 1 << 64


@dataclass(frozen=True, slots=True)
class Plan:
    """A sampler reduced to what the hot path needs."""

    bound: int  # a root span is sampled when trace_id & MASK64 < bound (0: never, ALWAYS: always)
    record_all: bool  # AlwaysRecordSampler: unsampled spans are recorded too (keep errors and slow operations)


def _root_bound(sampler: sampling.Sampler) -> int | None:
    if sampler is sampling.ALWAYS_ON:
        return ALWAYS
    if sampler is sampling.ALWAYS_OFF:
        return 0
    if type(sampler) is sampling.TraceIdRatioBased:
        return sampler.bound
    return None


def plan_of(sampler: sampling.Sampler | None) -> Plan | None:
    """The plan of a sampler we can reproduce exactly, else None (use the SDK for every span)."""
    record_all = isinstance(sampler, sampling.AlwaysRecordSampler)
    if record_all:
        sampler = getattr(sampler, "_root", None)
    if not isinstance(sampler, sampling.ParentBased):
        return None
    delegates = (sampler._remote_parent_sampled, sampler._remote_parent_not_sampled,
                 sampler._local_parent_sampled, sampler._local_parent_not_sampled)
    if delegates != (sampling.ALWAYS_ON, sampling.ALWAYS_OFF, sampling.ALWAYS_ON, sampling.ALWAYS_OFF):
        return None
    bound = _root_bound(sampler._root)
    return None if bound is None else Plan(bound, record_all)


class StagedIdGenerator(IdGenerator):
    """Hands the SDK the trace id the hot path already drew (per thread), else defers to the real generator."""

    def __init__(self, inner: IdGenerator) -> None:
        self.inner = inner
        self._staged = threading.local()

    def stage(self, trace_id: int) -> None:
        self._staged.trace_id = trace_id

    def generate_trace_id(self) -> int:
        staged = getattr(self._staged, "trace_id", 0)
        if staged:
            self._staged.trace_id = 0
            return staged
        return self.inner.generate_trace_id()

    def generate_span_id(self) -> int:
        return self.inner.generate_span_id()

    def is_trace_id_random(self) -> bool:
        return self.inner.is_trace_id_random()


def make_sampler(ratio: float, keep_errors_and_slow: bool = False) -> sampling.Sampler:
    """``ParentBased(TraceIdRatioBased(ratio))``; wrapped in ``AlwaysRecordSampler`` to keep errors and slow
    operations (they are recorded unsampled and exported by :class:`~cachewatch.tracing.export.ExportProcessor`
    only when worth keeping)."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"sample ratio {ratio!r}: allowed 0.0 to 1.0")
    base = sampling.ParentBased(sampling.TraceIdRatioBased(ratio))
    return sampling.AlwaysRecordSampler(base) if keep_errors_and_slow else base


ENV_SAMPLERS = ("parentbased_traceidratio", "traceidratio", "parentbased_always_on", "always_on",
                "parentbased_always_off", "always_off")


def ratio_from_env(default: float) -> float:
    """The head-sampling ratio the standard ``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG`` ask for, else
    ``default``. Only the ratio and on/off samplers apply; anything else is refused by name."""
    name = os.environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if not name:
        return default
    if name not in ENV_SAMPLERS:
        raise ValueError(f"OTEL_TRACES_SAMPLER={name!r}: allowed {', '.join(ENV_SAMPLERS)}")
    if name.endswith("always_on"):
        return 1.0
    if name.endswith("always_off"):
        return 0.0
    arg = os.environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    try:
        ratio = float(arg) if arg else 1.0
    except ValueError:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={arg!r}: allowed a number from 0.0 to 1.0") from None
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={arg!r}: allowed a number from 0.0 to 1.0")
    return ratio
