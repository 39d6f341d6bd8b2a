"""A real Alertmanager (Debian's ``prometheus-alertmanager``) on a free port for end-to-end tests."""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cachewatch.local_redis import free_port, require_binary


@contextlib.contextmanager
def running_alertmanager(config: Path, tmp: Path) -> Iterator[str]:
    """Alertmanager with ``config``, its data and log under ``tmp``, no cluster gossip; yields its base URL once
    it is ready and always stops it."""
    binary = require_binary("prometheus-alertmanager")
    port = free_port()
    with (tmp / "alertmanager.log").open("w") as log:
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.path={tmp / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                                stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    urllib.request.urlopen(base + "/-/ready", timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"alertmanager did not start:\n{(tmp / 'alertmanager.log').read_text()}")
                    time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)
