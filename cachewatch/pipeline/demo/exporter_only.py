"""``cachewatch demo --redis-addr URL``: the exporter in front of a Redis the user already runs, and a sample of
what it exports. Nothing is started next to that Redis, written into it, or killed."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request

from cachewatch.exporter.app import Exporter
from cachewatch.exporter.options import ExporterSettings
from cachewatch.pipeline.demo.report import LIGHT_SAMPLE, names, sample, say, series


async def _run(addr: str, listen: str, serve: bool) -> None:
    host, _, port = listen.rpartition(":")
    exporter = Exporter(ExporterSettings(redis_addr=addr, listen=listen))
    await exporter.start(host, int(port))
    url = f"http://{host or '127.0.0.1'}:{exporter.port}/metrics"
    try:
        body = (await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=30).read())).decode()
        lines = series(body)
        say(f"{url}: {len(lines)} series in {len(names(lines))} names; a sample:")
        sample(lines, LIGHT_SAMPLE, limit=20)
        if serve:
            say(f"serving {url} (and /scrape, /health) until Ctrl-C")
            await asyncio.Event().wait()
    finally:
        await exporter.close()


def exporter_only(redis_addr: str, listen: str, serve: bool) -> int:
    say(f"exporter for {redis_addr} (only the exporter: the whole-stack demo starts its own Redis)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(redis_addr, listen, serve))
    return 0
