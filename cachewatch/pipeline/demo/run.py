"""``cachewatch demo``: the whole stack, step by step, in a temp directory that is gone when it ends.

Start it, print where to look, show what the exporter and the application export, inject a fault and follow it
to an acked episode, heal it; then stop every process (at once, or on Ctrl-C with ``--serve``)."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from cachewatch.pipeline.demo.fault import run_fault
from cachewatch.pipeline.demo.processes import wait_until
from cachewatch.pipeline.demo.report import (
    CLIENT_SAMPLE,
    EXPORTER_SAMPLE,
    PROBE_SAMPLE,
    fetch,
    names,
    sample,
    say,
    series,
)
from cachewatch.pipeline.demo.spec import USER
from cachewatch.pipeline.demo.stack import Stack

VM_QUERY = 'count by (job) ({job!=""})'
EX_INTERRUPTED = 130  # as a shell reports a command ended by Ctrl-C


def whole_stack(serve: bool) -> int:
    began, code, serving = time.monotonic(), 0, False
    _interrupt_on_termination()
    tmp = Path(tempfile.mkdtemp(prefix="cachewatch-demo-"))
    say(f"working directory {tmp} (removed at exit)")
    stack = Stack(tmp)
    try:
        stack.start()
        show_urls(stack)
        show_samples(stack)
        run_fault(stack)
        show_long_term_store(stack)
        if serve:
            serving = True
            serve_until_interrupted(stack)
    except KeyboardInterrupt:  # the normal end of --serve; before that, the demo was cut short
        say("stopping" if serving else "interrupted")
        code = 0 if serving else EX_INTERRUPTED
    except RuntimeError as exc:  # DemoError, or a Redis that would not start: say what, then clean up
        print(f"cachewatch demo: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        with _no_interrupts():  # a second Ctrl-C must not leave processes or files behind
            stopped = stack.stop()
            say(f"stopped {len(stopped)} processes: {', '.join(stopped)}; demo-app and the receiver")
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"removed {tmp}; done in {time.monotonic() - began:.0f} s")
    return code


def show_urls(stack: Stack) -> None:
    say(f"Prometheus UI:    {stack.url('prometheus')}/  (Alerts: the generated rules, Status > Targets)")
    say(f"Alertmanager UI:  {stack.url('alertmanager')}/  (alerts, silences: the ack will be one)")
    say(f"console:          {stack.url('lifecycle')}/  (login {USER}, token in {stack.token_file})")
    if stack.victoria_metrics:
        say(f"VictoriaMetrics:  {stack.url('victoria_metrics')}/  (the long-term store; Prometheus' query API on "
            "/api/v1/query, Grafana's datasource URL)")


def show_samples(stack: Stack) -> None:
    """A few lines of each: the exporter's scrape and probes, the application's client metrics, one trace."""
    exporter, primary = stack.url("exporter"), f"redis://{stack.primary.addr}"
    lines = series(fetch(f"{exporter}/scrape?target={primary}"))
    say(f"exporter /scrape?target={primary}: {len(lines)} series in {len(names(lines))} names; a sample:")
    sample(lines, EXPORTER_SAMPLE)
    say("health probes (/probe?module=health, module=replication: a heartbeat through the replica):")
    for module, prefixes in PROBE_SAMPLE.items():
        sample(series(fetch(f"{exporter}/probe?target={primary}&module={module}")), prefixes, nonzero=True,
               label=f"module={module}: ")
    say(f"demo-app /metrics (cachewatch.tracing), after {stack.app.reads} reads:")
    sample(series(fetch(f"{stack.url('app')}/metrics")), CLIENT_SAMPLE, nonzero=True, limit=6)
    stack.app.flush()
    spans = stack.app.spans.first_miss()
    if spans:
        say(f"the trace of the first read that missed everywhere: {_tree(spans)}")


def _tree(spans: list) -> str:
    """Spans as ``parent (child, child (grandchild))``, in start order."""
    children: dict[int | None, list] = {}
    for span in spans:
        children.setdefault(span.parent.span_id if span.parent else None, []).append(span)

    def render(span) -> str:
        below = children.get(span.context.span_id, [])
        return span.name + (f" ({', '.join(render(s) for s in below)})" if below else "")

    return ", ".join(render(s) for s in children.get(None, []))


def show_long_term_store(stack: Stack) -> None:
    """What Prometheus remote-wrote to VictoriaMetrics meanwhile, asked through VictoriaMetrics' own API."""
    if not stack.victoria_metrics:
        return
    url = f"{stack.url('victoria_metrics')}/api/v1/query?" + urllib.parse.urlencode({"query": VM_QUERY})

    def per_job() -> dict[str, int]:
        return {r["metric"]["job"]: int(float(r["value"][1])) for r in json.loads(fetch(url))["data"]["result"]}

    jobs = wait_until(per_job, 30, "series in VictoriaMetrics")
    say(f"VictoriaMetrics holds {sum(jobs.values())} series that Prometheus remote-wrote: "
        + ", ".join(f"{job} {count}" for job, count in sorted(jobs.items())))


def serve_until_interrupted(stack: Stack) -> None:
    say("serving until Ctrl-C; the same URLs as above. From a shell:")
    say(f"cachewatch alerts ls --url {stack.url('lifecycle')} --user {USER} --token-file {stack.token_file}",
        indent=True)
    while True:
        time.sleep(3600)


def _interrupt_on_termination() -> None:
    """SIGTERM and SIGHUP end the demo as Ctrl-C does: through the code that stops every process."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


@contextlib.contextmanager
def _no_interrupts():
    """Ctrl-C, SIGTERM and SIGHUP ignored while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
