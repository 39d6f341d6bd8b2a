"""The functions put in place of a client's ``execute_command`` and a pipeline's methods (sync and asyncio).

They are set as instance attributes, so only the instrumented client changes and ``uninstrument`` is a
``del``. Each wrapper runs the original call outside any telemetry ``try``: the application always gets the
command's own reply or exception object, and a failure inside telemetry is logged once and ignored.
"""

from __future__ import annotations

import inspect
import logging
import time
from bisect import bisect_left as _bisect
from collections.abc import Callable
from typing import Any

from cachewatch.tracing.telemetry import Telemetry, started_ns

log = logging.getLogger("cachewatch.tracing")
_perf = time.perf_counter
_warned: set[str] = set()


def telemetry_failed(where: str) -> None:
    """Log a telemetry failure once per place: the command itself went through untouched."""
    if where not in _warned:
        _warned.add(where)
        log.exception("cachewatch telemetry failed in %s; the command was not affected", where)


# --- single commands --------------------------------------------------------------------------------------------
# The success path of an unsampled, fast, non-read or single-key-read command is inlined below (and in the
# asyncio twin): in place on a loopback GET every extra Python call costs about a microsecond, against a budget
# of about three and a half. Everything else goes through Telemetry.succeeded, which does the same and more.
def sync_command(original: Callable[..., Any], tel: Telemetry) -> Callable[..., Any]:
    ops, traced, slow = tel.ops, not tel.spans.disabled, tel.slow_threshold

    def execute_command(*args: Any, **options: Any) -> Any:
        try:
            op = ops.get(args[0]) or tel.op(args[0])
            span = tel.spans.start_leaf(op.name, tel.attributes, args) if traced else None
        except Exception:
            telemetry_failed("start")
            return original(*args, **options)
        start = _perf()
        try:
            reply = original(*args, **options)
        except BaseException as exc:
            elapsed = _perf() - start
            try:
                tel.failed(op, args, exc, elapsed, span)
            except Exception:
                telemetry_failed("failed")
            raise
        elapsed = _perf() - start
        try:
            if span is None and op.fast and elapsed < slow:
                stats = op.stats
                try:
                    slots = stats.local.slots
                except AttributeError:
                    slots = stats.slots()
                slots[_bisect(stats.bounds, elapsed)] += 1
                slots[stats.sum] += elapsed
                if op.single:
                    slots[stats.misses if reply is None else stats.hits] += 1
            else:
                tel.succeeded(op, args, reply, elapsed, span)
        except Exception:
            telemetry_failed("succeeded")
        return reply

    return execute_command


def async_command(original: Callable[..., Any], tel: Telemetry) -> Callable[..., Any]:
    ops, traced, slow = tel.ops, not tel.spans.disabled, tel.slow_threshold

    async def execute_command(*args: Any, **options: Any) -> Any:
        try:
            op = ops.get(args[0]) or tel.op(args[0])
            span = tel.spans.start_leaf(op.name, tel.attributes, args) if traced else None
        except Exception:
            telemetry_failed("start")
            return await original(*args, **options)
        start = _perf()
        try:
            reply = await original(*args, **options)
        except BaseException as exc:
            elapsed = _perf() - start
            try:
                tel.failed(op, args, exc, elapsed, span)
            except Exception:
                telemetry_failed("failed")
            raise
        elapsed = _perf() - start
        try:
            if span is None and op.fast and elapsed < slow:
                stats = op.stats
                try:
                    slots = stats.local.slots
                except AttributeError:
                    slots = stats.slots()
                slots[_bisect(stats.bounds, elapsed)] += 1
                slots[stats.sum] += elapsed
                if op.single:
                    slots[stats.misses if reply is None else stats.hits] += 1
            else:
                tel.succeeded(op, args, reply, elapsed, span)
        except Exception:
            telemetry_failed("succeeded")
        return reply

    return execute_command


# --- pipelines and transactions -----------------------------------------------------------------------------------
def _transactional(pipe: Any) -> bool:
    """MULTI/EXEC or plain pipeline. The flag is ``transaction`` on sync pipelines and ``is_transaction`` on
    asyncio ones (where ``transaction`` is the client's method): read instance attributes only."""
    attrs = vars(pipe)
    flag = attrs.get("is_transaction", attrs.get("transaction", False))
    return flag is True or attrs.get("explicit_transaction") is True


class PipelineRecorder:
    """Keeps our own copy of the queued commands (redis-py's internal queues differ by pipeline class and
    version), and records one PIPELINE/MULTI operation per ``execute``."""

    def __init__(self, pipe: Any, tel: Telemetry) -> None:
        self.pipe = pipe
        self.tel = tel
        self.queued: list[tuple[Any, ...]] = []

    def take(self) -> list[tuple[Any, ...]]:
        try:
            pending = len(self.pipe)
        except Exception:
            pending = len(self.queued)
        batch = self.queued[-pending:] if pending else []
        self.queued = []
        return batch

    def begin(self, batch: list[tuple[Any, ...]]) -> tuple[Any, Any]:
        tel = self.tel
        name = tel.batch_name("MULTI" if _transactional(self.pipe) else "PIPELINE", batch)
        op = tel.op(name)
        size = len(batch) if len(batch) > 1 else 0
        return op, tel.spans.start_leaf(name, lambda n, _a: tel.attributes(n, batch=size))

    def done(self, op: Any, batch: list[tuple[Any, ...]], replies: Any, elapsed: float, span: Any) -> None:
        tel = self.tel
        hits, misses = tel.count_batch(batch, replies if isinstance(replies, list) else [])
        if span is not None and hits + misses:
            span.set_attribute("cache.hit_count", hits)
            span.set_attribute("cache.miss_count", misses)
        tel.succeeded(op, (), None, elapsed, span)


def instrument_sync_pipeline(pipe: Any, tel: Telemetry) -> Any:
    rec = PipelineRecorder(pipe, tel)
    original_command, original_execute, original_reset = pipe.execute_command, pipe.execute, pipe.reset

    def execute_command(*args: Any, **options: Any) -> Any:
        start = _perf()
        try:
            result = original_command(*args, **options)
        except BaseException as exc:  # only immediate (WATCH-mode) commands reach Redis here
            _immediate(tel, args, _perf() - start, exc=exc)
            raise
        if result is pipe:
            rec.queued.append(args)
        else:
            _immediate(tel, args, _perf() - start, reply=result)
        return result

    def execute(*args: Any, **kwargs: Any) -> Any:
        batch = rec.take()
        if not batch:
            return original_execute(*args, **kwargs)
        try:
            op, span = rec.begin(batch)
        except Exception:
            telemetry_failed("pipeline start")
            return original_execute(*args, **kwargs)
        start = _perf()
        try:
            replies = original_execute(*args, **kwargs)
        except BaseException as exc:
            elapsed = _perf() - start
            try:
                tel.failed(op, (), exc, elapsed, span)
            except Exception:
                telemetry_failed("pipeline failed")
            raise
        elapsed = _perf() - start
        try:
            rec.done(op, batch, replies, elapsed, span)
        except Exception:
            telemetry_failed("pipeline done")
        return replies

    def reset(*args: Any, **kwargs: Any) -> Any:
        rec.queued = []
        return original_reset(*args, **kwargs)

    pipe.execute_command, pipe.execute, pipe.reset = execute_command, execute, reset
    return pipe


def instrument_async_pipeline(pipe: Any, tel: Telemetry) -> Any:
    rec = PipelineRecorder(pipe, tel)
    original_command, original_execute, original_reset = pipe.execute_command, pipe.execute, pipe.reset

    async def immediate(args: tuple[Any, ...], pending: Any) -> Any:
        start = _perf()
        try:
            reply = await pending
        except BaseException as exc:
            _immediate(tel, args, _perf() - start, exc=exc)
            raise
        _immediate(tel, args, _perf() - start, reply=reply)
        return reply

    def execute_command(*args: Any, **options: Any) -> Any:
        result = original_command(*args, **options)
        if result is pipe:
            rec.queued.append(args)
            return result
        if inspect.isawaitable(result):  # WATCH mode: the command runs when awaited
            return immediate(args, result)
        return result

    async def execute(*args: Any, **kwargs: Any) -> Any:
        batch = rec.take()
        if not batch:
            return await original_execute(*args, **kwargs)
        try:
            op, span = rec.begin(batch)
        except Exception:
            telemetry_failed("pipeline start")
            return await original_execute(*args, **kwargs)
        start = _perf()
        try:
            replies = await original_execute(*args, **kwargs)
        except BaseException as exc:
            elapsed = _perf() - start
            try:
                tel.failed(op, (), exc, elapsed, span)
            except Exception:
                telemetry_failed("pipeline failed")
            raise
        elapsed = _perf() - start
        try:
            rec.done(op, batch, replies, elapsed, span)
        except Exception:
            telemetry_failed("pipeline done")
        return replies

    def reset(*args: Any, **kwargs: Any) -> Any:
        rec.queued = []
        return original_reset(*args, **kwargs)

    pipe.execute_command, pipe.execute, pipe.reset = execute_command, execute, reset
    return pipe


def _immediate(tel: Telemetry, args: tuple[Any, ...], elapsed: float, reply: Any = None,
               exc: BaseException | None = None) -> None:
    """Record a command a pipeline ran at once (WATCH mode): known only after the fact, so its span (if the
    operation is sampled) is backdated to when it started."""
    try:
        op = tel.op(args[0])
        span = tel.spans.start_leaf(op.name, tel.attributes, args, start_time=started_ns(elapsed))
        if exc is None:
            tel.succeeded(op, args, reply, elapsed, span)
        else:
            tel.failed(op, args, exc, elapsed, span)
    except Exception:
        telemetry_failed("immediate")


def pipeline_factory(original: Callable[..., Any], tel: Telemetry, is_async: bool) -> Callable[..., Any]:
    """``client.pipeline`` that returns instrumented pipelines (``client.transaction`` goes through it too)."""
    instrument_pipe = instrument_async_pipeline if is_async else instrument_sync_pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = original(*args, **kwargs)
        try:
            return instrument_pipe(pipe, tel)
        except Exception:
            telemetry_failed("pipeline")
            return pipe

    return pipeline
