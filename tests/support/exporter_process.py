"""Test helpers: run the real `cachewatch exporter` (or the peer) as a process and talk HTTP to it."""

from __future__ import annotations

import atexit
import http.client
import os
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cachewatch.local_redis import free_port, require_binary

PEER_INSTALL = "apt-get install -y prometheus-redis-exporter (scripts/setup.sh does this)"


@dataclass
class HttpResult:
    status: int
    body: str
    headers: dict[str, str]

    def series(self) -> list[str]:
        return [line for line in self.body.splitlines() if line and not line.startswith("#")]

    def value(self, series: str) -> float | None:
        """Value of the series whose name+labels text is exactly ``series``."""
        for line in self.series():
            name, _, value = line.rpartition(" ")
            if name == series:
                return float(value)
        return None


def http_get(port: int, path: str, headers: dict[str, str] | None = None, *, method: str = "GET",
             timeout: float = 30.0, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> HttpResult:
    conn = (http.client.HTTPSConnection(host, port, timeout=timeout, context=tls) if tls
            else http.client.HTTPConnection(host, port, timeout=timeout))
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return HttpResult(resp.status, resp.read().decode("utf-8", "replace"), dict(resp.getheaders()))
    finally:
        conn.close()


@dataclass(eq=False)
class ExporterProcess:
    """A running exporter (or peer). Use it as a context manager, or call ``stop()`` from a finalizer: stopping
    also deletes its log file, so tests leave nothing in the temp directory; ``logs()`` still answers after."""

    proc: subprocess.Popen
    port: int
    log_path: Path
    _final_logs: str | None = field(default=None, repr=False)

    def get(self, path: str, headers: dict[str, str] | None = None, **kwargs) -> HttpResult:
        return http_get(self.port, path, headers, **kwargs)

    def logs(self) -> str:
        if self._final_logs is not None:
            return self._final_logs
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Terminate (kill after 10 s), keep the log text, delete the file; safe to call again."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._final_logs is None:
            self._final_logs = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            self.log_path.unlink(missing_ok=True)
        _RUNNING.discard(self)

    def __enter__(self) -> ExporterProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# Every process started here and not yet stopped: a forgotten stop() is made up for when the interpreter exits.
_RUNNING: set[ExporterProcess] = set()


@atexit.register
def _stop_forgotten() -> None:
    for handle in list(_RUNNING):
        handle.stop()


def _wait_http(handle: ExporterProcess, path: str, tls: ssl.SSLContext | None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handle.proc.poll() is not None:
            raise RuntimeError(f"process exited with {handle.proc.returncode}: {handle.logs()[-3000:]}")
        try:
            http_get(handle.port, path, timeout=1.0, tls=tls)
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
    raise RuntimeError(f"not serving on port {handle.port} after {timeout}s: {handle.logs()[-3000:]}")


def _start(cmd: list[str], port: int, env: dict[str, str], prefix: str, ready_path: str,
           tls: ssl.SSLContext | None) -> ExporterProcess:
    """Run ``cmd`` with its output in a fresh log file; wait until it serves ``ready_path``, or clean up."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
    try:
        with os.fdopen(fd, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    except BaseException:
        Path(name).unlink()
        raise
    handle = ExporterProcess(proc, port, Path(name))
    _RUNNING.add(handle)
    try:
        _wait_http(handle, ready_path, tls)
    except BaseException:
        handle.stop()
        raise
    return handle


def _clean_env() -> dict[str, str]:
    """The test runner's environment without REDIS_* (redis_exporter's settings), so only ``env`` configures."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REDIS")}


def start_exporter(*args: str, env: dict[str, str] | None = None, tls: ssl.SSLContext | None = None
                   ) -> ExporterProcess:
    """`cachewatch exporter --listen 127.0.0.1:<free> ARGS` with a clean environment plus ``env``."""
    port = free_port()
    cmd = [sys.executable, "-m", "cachewatch", "exporter", "--listen", f"127.0.0.1:{port}", *args]
    return _start(cmd, port, {**_clean_env(), **(env or {})}, "cw-exporter-", "/health", tls)


def start_peer(*args: str) -> ExporterProcess:
    """Debian's prometheus-redis-exporter (oliver006/redis_exporter 1.45), the compatibility peer."""
    binary = require_binary("prometheus-redis-exporter")
    port = free_port()
    cmd = [binary, f"--web.listen-address=127.0.0.1:{port}", *args]
    return _start(cmd, port, _clean_env(), "cw-peer-", "/", None)


def parse_exposition(text: str) -> dict[str, dict]:
    """Family name → {"type": ..., "labels": set of label names}, from Prometheus text format."""
    families: dict[str, dict] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            labels = set()
            if "{" in line:
                inner = line[line.index("{") + 1: line.rindex("}")]
                labels = {part.split("=", 1)[0] for part in _split_labels(inner)}
            family = name
            for suffix in ("_bucket", "_sum", "_count"):
                base = name[: -len(suffix)]
                if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
                    family = base
            labels -= {"le", "quantile"} if family != name or types.get(family) == "summary" else set()
            entry = families.setdefault(family, {"type": types.get(family, "untyped"), "labels": set()})
            entry["labels"] |= labels
    return families


def _split_labels(inner: str) -> list[str]:
    parts, current, in_quotes, escaped = [], [], False, False
    for ch in inner:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            in_quotes = not in_quotes
        elif ch == "," and not in_quotes:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current:
        parts.append("".join(current))
    return [p for p in parts if p]
