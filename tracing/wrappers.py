"""The functions put in place of a client's ``execute_command`` and ``pipeline`` and a pipeline's methods (sync
and asyncio).

They are set as instance attributes, so only the instrumented client changes and ``uninstrument`` is a
``del``. They hold the object they were set on weakly and call its class's method with it (never a bound method
of the object itself): the object keeps no reference cycle through them, so redis-py's ``__del__`` still runs
the moment the application drops it, as it does for a plain client. Each wrapper runs the original call
outside any telemetry ``try``: the application always gets the command's own reply or exception object, and a
failure inside telemetry is logged once and ignored.
"""

from __future__ import annotations

import inspect
import logging
import time
import weakref
from bisect import bisect_left as _bisect
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio.client
import redis.client

from cachewatch.tracing.telemetry import Telemetry, started_ns

log = logging.getLogger("cachewatch.tracing")
_perf = time.perf_counter
_warned: set[str] = set()

# Methods that only forward to another method of the same object: the wrapper calls the target directly, so an
# instrumented call goes through as many Python frames (and allocates as many argument tuples) as a plain one.
TRAMPOLINES: dict[tuple[Any, str], str] = {
    (redis.Redis.execute_command, "execute_command"): "_execute_command",
}


def telemetry_failed(where: str) -> None:
    """Log a telemetry failure once per place: the command itself went through untouched."""
    if where not in _warned:
        _warned.add(where)
        log.exception("cachewatch telemetry failed in %s; the command was not affected", where)


def method_of(target: Any, name: str) -> Callable[..., Any]:
    """What ``target.name`` runs, as a function taking the object first: its class's function (or the one that
    function forwards to), or a callable another library already set on the instance (called as it is)."""
    previous = vars(target).get(name)
    if previous is not None:
        def run(_self: Any, *args: Any, **kwargs: Any) -> Any:
            return previous(*args, **kwargs)

        return run
    function = getattr(type(target), name)
    forward = TRAMPOLINES.get((function, name))
    return getattr(type(target), forward) if forward else function


# --- single commands --------------------------------------------------------------------------------------------
# The success path of an unsampled, fast, non-read or single-key-read command is inlined below (and in the
# asyncio twin): in place on a loopback GET every extra Python call costs about a microsecond, against a budget
# of about one and a half. Everything else goes through Telemetry.succeeded, which does the same and more.
def sync_command(client: Any, tel: Telemetry) -> Callable[..., Any]:
    ref, run = weakref.ref(client), method_of(client, "execute_command")
    ops, op_of, slow, attributes = tel.ops, tel.op, tel.slow_threshold, tel.attributes
    start_leaf = None if tel.spans.disabled else tel.spans.start_leaf

    def execute_command(*args: Any, **options: Any) -> Any:
        try:
            op = ops.get(args[0]) or op_of(args[0])
            span = start_leaf(op.name, attributes, args) if start_leaf is not None else None
        except Exception:
            telemetry_failed("start")
            return run(ref(), *args, **options)
        start = _perf()
        try:
            reply = run(ref(), *args, **options)
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


def async_command(client: Any, tel: Telemetry) -> Callable[..., Any]:
    ref, run = weakref.ref(client), method_of(client, "execute_command")
    ops, op_of, slow, attributes = tel.ops, tel.op, tel.slow_threshold, tel.attributes
    start_leaf = None if tel.spans.disabled else tel.spans.start_leaf

    async def execute_command(*args: Any, **options: Any) -> Any:
        try:
            op = ops.get(args[0]) or op_of(args[0])
            span = start_leaf(op.name, attributes, args) if start_leaf is not None else None
        except Exception:
            telemetry_failed("start")
            return await run(ref(), *args, **options)
        start = _perf()
        try:
            reply = await run(ref(), *args, **options)
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


def _begin(tel: Telemetry, pipe: Any, batch: list[tuple[Any, ...]]) -> tuple[Any, Any]:
    name = tel.batch_name("MULTI" if _transactional(pipe) else "PIPELINE", batch)
    op = tel.op(name)
    size = len(batch) if len(batch) > 1 else 0
    return op, tel.spans.start_leaf(name, lambda n, _a: tel.attributes(n, batch=size))


def _done(tel: Telemetry, op: Any, batch: list[tuple[Any, ...]], replies: Any, elapsed: float, span: Any) -> None:
    hits, misses = tel.count_batch(batch, replies if isinstance(replies, list) else [])
    if span is not None and hits + misses:
        span.set_attribute("cache.hit_count", hits)
        span.set_attribute("cache.miss_count", misses)
    tel.succeeded(op, (), None, elapsed, span)


def _timed_execute(tel: Telemetry, run: Callable[..., Any], target: Any, batch: list[tuple[Any, ...]],
                   args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """One PIPELINE/MULTI operation around the pipeline's own ``execute`` (sync)."""
    try:
        op, span = _begin(tel, target, batch)
    except Exception:
        telemetry_failed("pipeline start")
        return run(target, *args, **kwargs)
    start = _perf()
    try:
        replies = run(target, *args, **kwargs)
    except BaseException as exc:
        elapsed = _perf() - start
        try:
            tel.failed(op, (), exc, elapsed, span)
        except Exception:
            telemetry_failed("pipeline failed")
        raise
    elapsed = _perf() - start
    try:
        _done(tel, op, batch, replies, elapsed, span)
    except Exception:
        telemetry_failed("pipeline done")
    return replies


async def _timed_execute_async(tel: Telemetry, run: Callable[..., Any], target: Any, batch: list[tuple[Any, ...]],
                               args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The asyncio twin of :func:`_timed_execute`."""
    try:
        op, span = _begin(tel, target, batch)
    except Exception:
        telemetry_failed("pipeline start")
        return await run(target, *args, **kwargs)
    start = _perf()
    try:
        replies = await run(target, *args, **kwargs)
    except BaseException as exc:
        elapsed = _perf() - start
        try:
            tel.failed(op, (), exc, elapsed, span)
        except Exception:
            telemetry_failed("pipeline failed")
        raise
    elapsed = _perf() - start
    try:
        _done(tel, op, batch, replies, elapsed, span)
    except Exception:
        telemetry_failed("pipeline done")
    return replies


class PipelineRecorder:
    """For pipeline classes whose queue we do not read: our own copy of the queued commands, one
    PIPELINE/MULTI operation per ``execute``. Holds the pipeline weakly."""

    __slots__ = ("pipe", "queued", "tel")

    def __init__(self, pipe: Any, tel: Telemetry) -> None:
        self.pipe = weakref.ref(pipe)
        self.tel = tel
        self.queued: list[tuple[Any, ...]] = []

    def take(self, pipe: Any) -> list[tuple[Any, ...]]:
        try:
            pending = len(pipe)
        except Exception:
            pending = len(self.queued)
        batch = self.queued[-pending:] if pending else []
        self.queued = []
        return batch


# redis-py's own pipelines (exact classes) keep ``command_stack`` as a list of (args, options): read it at
# execute time instead of wrapping every queued command. WATCH-mode commands go through
# immediate_execute_command.
STACKED = (redis.client.Pipeline, redis.asyncio.client.Pipeline)


def _stacked_sync(pipe: Any, tel: Telemetry) -> Any:
    ref = weakref.ref(pipe)
    run_execute, run_immediate = method_of(pipe, "execute"), method_of(pipe, "immediate_execute_command")

    def execute(*args: Any, **kwargs: Any) -> Any:
        target = ref()
        stack = target.command_stack
        if not stack:
            return run_execute(target, *args, **kwargs)
        return _timed_execute(tel, run_execute, target, [queued[0] for queued in stack], args, kwargs)

    def immediate_execute_command(*args: Any, **options: Any) -> Any:
        start = _perf()
        try:
            reply = run_immediate(ref(), *args, **options)
        except BaseException as exc:
            _immediate(tel, args, _perf() - start, exc=exc)
            raise
        _immediate(tel, args, _perf() - start, reply=reply)
        return reply

    pipe.execute, pipe.immediate_execute_command = execute, immediate_execute_command
    return pipe


def _stacked_async(pipe: Any, tel: Telemetry) -> Any:
    ref = weakref.ref(pipe)
    run_execute, run_immediate = method_of(pipe, "execute"), method_of(pipe, "immediate_execute_command")

    def execute(*args: Any, **kwargs: Any) -> Any:
        target = ref()
        stack = target.command_stack
        if not stack:
            return run_execute(target, *args, **kwargs)
        return _timed_execute_async(tel, run_execute, target, [queued[0] for queued in stack], args, kwargs)

    async def immediate_execute_command(*args: Any, **options: Any) -> Any:
        start = _perf()
        try:
            reply = await run_immediate(ref(), *args, **options)
        except BaseException as exc:
            _immediate(tel, args, _perf() - start, exc=exc)
            raise
        _immediate(tel, args, _perf() - start, reply=reply)
        return reply

    pipe.execute, pipe.immediate_execute_command = execute, immediate_execute_command
    return pipe


def instrument_sync_pipeline(pipe: Any, tel: Telemetry) -> Any:
    if type(pipe) is redis.client.Pipeline:
        return _stacked_sync(pipe, tel)
    rec = PipelineRecorder(pipe, tel)
    ref = rec.pipe
    run_command, run_execute, run_reset = (method_of(pipe, name) for name in ("execute_command", "execute", "reset"))

    def execute_command(*args: Any, **options: Any) -> Any:
        target = ref()
        start = _perf()
        try:
            result = run_command(target, *args, **options)
        except BaseException as exc:  # only immediate (WATCH-mode) commands reach Redis here
            _immediate(tel, args, _perf() - start, exc=exc)
            raise
        if result is target:
            rec.queued.append(args)
        else:
            _immediate(tel, args, _perf() - start, reply=result)
        return result

    def execute(*args: Any, **kwargs: Any) -> Any:
        target = ref()
        batch = rec.take(target)
        if not batch:
            return run_execute(target, *args, **kwargs)
        return _timed_execute(tel, run_execute, target, batch, args, kwargs)

    def reset(*args: Any, **kwargs: Any) -> Any:
        rec.queued = []
        return run_reset(ref(), *args, **kwargs)

    pipe.execute_command, pipe.execute, pipe.reset = execute_command, execute, reset
    return pipe


def instrument_async_pipeline(pipe: Any, tel: Telemetry) -> Any:
    if type(pipe) is redis.asyncio.client.Pipeline:
        return _stacked_async(pipe, tel)
    rec = PipelineRecorder(pipe, tel)
    ref = rec.pipe
    run_command, run_execute, run_reset = (method_of(pipe, name) for name in ("execute_command", "execute", "reset"))

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
        target = ref()
        result = run_command(target, *args, **options)
        if result is target:
            rec.queued.append(args)
            return result
        if inspect.isawaitable(result):  # WATCH mode: the command runs when awaited
            return immediate(args, result)
        return result

    def execute(*args: Any, **kwargs: Any) -> Any:
        target = ref()
        batch = rec.take(target)
        if not batch:
            return run_execute(target, *args, **kwargs)
        return _timed_execute_async(tel, run_execute, target, batch, args, kwargs)

    def reset(*args: Any, **kwargs: Any) -> Any:
        rec.queued = []
        return run_reset(ref(), *args, **kwargs)

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


def pipeline_factory(client: Any, tel: Telemetry, is_async: bool) -> Callable[..., Any]:
    """``client.pipeline`` that returns instrumented pipelines (``client.transaction`` goes through it too)."""
    instrument_pipe = instrument_async_pipeline if is_async else instrument_sync_pipeline
    ref, run = weakref.ref(client), method_of(client, "pipeline")

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = run(ref(), *args, **kwargs)
        try:
            return instrument_pipe(pipe, tel)
        except Exception:
            telemetry_failed("pipeline")
            return pipe

    return pipeline
