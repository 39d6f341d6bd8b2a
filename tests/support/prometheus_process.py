"""A real Prometheus (Debian's ``prometheus``) on a free port for end-to-end tests, and the API calls they poll."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from cachewatch.local_redis import free_port, require_binary


@contextlib.contextmanager
def running_prometheus(config: Path, tmp: Path, flags: list[str] = (), env: dict[str, str] | None = None
                       ) -> Iterator[int]:
    """Prometheus with ``config``, its data and log under ``tmp`` (and ``env`` added to its environment); yields its
    port and always stops it."""
    port = free_port()
    with (tmp / "prometheus.log").open("w") as log:
        proc = subprocess.Popen([require_binary("prometheus"), f"--config.file={config}",
                                 f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                 *flags], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **env} if env else None)
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def api(port: int, path: str, **params: object) -> object:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}?{query}", timeout=5) as response:
        return json.load(response)["data"]


def query(port: int, promql: str) -> list[dict]:
    return api(port, "query", query=promql)["result"]  # type: ignore[index]


def active_targets(port: int, log: Path, want: int, timeout: float = 40.0) -> list[dict]:
    """Poll /api/v1/targets until ``want`` active targets are listed."""
    deadline, targets = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            targets = api(port, "targets", state="active")["activeTargets"]  # type: ignore[index]
            if len(targets) >= want:
                return targets
        time.sleep(0.5)
    raise AssertionError(f"{len(targets)} of {want} targets after {timeout}s: {log.read_text()[-3000:]}")
