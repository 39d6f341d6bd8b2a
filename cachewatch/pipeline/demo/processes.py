"""The demo's child processes: each one logs into the demo's temp directory, is waited for over HTTP, and is
stopped (SIGTERM, then SIGKILL) in reverse order of starting, whatever happened in between."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cachewatch.local_redis import RedisServer

T = TypeVar("T")
STOP_TIMEOUT = 10.0


class DemoError(RuntimeError):
    """Something the demo waits for did not happen; the text says what, and the log tail says why."""


def wait_until(condition: Callable[[], T], timeout: float, what: str, log: Path | None = None) -> T:
    """Poll ``condition()`` until it returns something truthy (network errors count as "not yet")."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError):
            if value := condition():
                return value
        if time.monotonic() > deadline:
            tail = f"\n--- {log.name} ---\n{log.read_text(errors='replace')[-2000:]}" if log and log.exists() else ""
            raise DemoError(f"not within {timeout:.0f} s: {what}{tail}")
        time.sleep(0.2)


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


@dataclass
class Process:
    """One child process with its output in ``log``; ``stop()`` is safe to call twice."""

    name: str
    proc: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        """Until ``url`` answers 200; fails at once, with the log, if the process exits first."""
        def ready() -> bool:
            if not self.alive():
                raise DemoError(f"{self.name} exited with {self.proc.returncode}:\n"
                                f"{self.log.read_text(errors='replace')[-2000:]}")
            return http_ok(url)

        wait_until(ready, timeout, f"{self.name} answers {url}", self.log)

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)


@dataclass
class Processes:
    """Everything the demo started (processes and Redis servers), stopped in reverse order by ``stop_all()``."""

    workdir: Path
    started: list[Process | RedisServer] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str]) -> Process:
        """Start ``argv`` in its own session (Ctrl-C reaches only the demo, which then stops it in order)."""
        log = self.workdir / f"{name}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.workdir, start_new_session=True)
        process = Process(name, proc, log)
        self.started.append(process)
        return process

    def cachewatch(self, name: str, *args: str) -> Process:
        """``python -m cachewatch ARGS`` with this interpreter: the same installation as the demo."""
        return self.spawn(name, [sys.executable, "-m", "cachewatch", *args])

    def adopt(self, server: RedisServer) -> RedisServer:
        self.started.append(server)
        return server

    def stop_all(self) -> list[str]:
        """Stop every process (newest first); returns the names of those that were still running."""
        running = []
        for item in reversed(self.started):
            if item.proc.poll() is None:
                running.append(item.name if isinstance(item, Process) else f"redis-server {item.addr}")
            with contextlib.suppress(Exception):  # one that will not stop must not keep the others running
                item.stop()
        self.started.clear()
        return running
