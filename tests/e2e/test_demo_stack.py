"""``cachewatch demo --serve`` (what ``scripts/demo.sh --serve`` runs after the set-up), end to end.

The whole stack comes up on the embedded spec; a killed replica pages; the page reaches the demo's receiver and
becomes an episode in the lifecycle service; the demo user acks it (a real ``ACK!`` silence in Alertmanager); the
replica heals. While it serves, the printed URLs answer and the printed login works in the console. Ctrl-C then
stops every process it started, and no file is left: the demo's temp files go to ``TMPDIR``, here the test's
own directory, which must be empty afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.e2e

# What the whole stack runs on, and the Debian package of each.
BINARIES = {"redis-server": "redis-server", "prometheus": "prometheus",
            "prometheus-alertmanager": "prometheus-alertmanager", "victoria-metrics": "victoria-metrics"}
WHOLE_RUN = 180.0  # seconds: the bound for the whole demo on a small machine
STOP_TIMEOUT = 60.0


class Output:
    """The demo's output, read on a thread, so the test can wait for a line with a deadline."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (found := re.search(pattern, "\n".join(self.lines), re.MULTILINE)):
                if time.monotonic() > deadline or not self._thread.is_alive():
                    pytest.fail(f"no line matching {pattern!r} within {timeout:.0f} s:\n" + "\n".join(self.lines))
                self._changed.wait(1)
        return found

    def close(self) -> None:
        self._thread.join(timeout=10)


def login(console: httpx.Client, token_file: Path) -> None:
    """The console's login form with the printed user and the token from the printed file."""
    response = console.post("/login", data={"user": "demo", "token": token_file.read_text().strip(), "next": "/"})
    assert response.status_code == 303, response.text


def test_the_demo_runs_the_whole_stack_pages_acks_heals_and_leaves_nothing_behind(tmp_path: Path) -> None:
    for binary, package in BINARIES.items():
        if shutil.which(binary) is None:
            pytest.fail(f"{binary} not found; install it with: apt-get install -y {package} "
                        "(scripts/setup.sh does this)")
    began = time.monotonic()
    demo = subprocess.Popen([sys.executable, "-m", "cachewatch", "demo", "--serve"], cwd=tmp_path,
                            env={**os.environ, "TMPDIR": str(tmp_path)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out, children = Output(demo.stdout), []
    try:
        out.wait_for(r"^==> serving until Ctrl-C", WHOLE_RUN)
        up_in = time.monotonic() - began
        children = psutil.Process(demo.pid).children(recursive=True)

        urls = {name: out.wait_for(rf"^==> {name}:\s+(http://\S+)", 0)[1]
                for name in ("Prometheus UI", "Alertmanager UI", "console", "VictoriaMetrics")}
        for name, url in urls.items():
            assert httpx.get(url, timeout=10, follow_redirects=True).status_code == 200, name
        acked = out.wait_for(r"^==> episode (\w+) acked by demo; silence (\S+) ", 0)
        silence = httpx.get(f"{urls['Alertmanager UI']}api/v2/silence/{acked[2]}", timeout=10).json()
        assert silence["comment"].startswith("ACK!") and "by demo" in silence["comment"], silence
        token_file = Path(out.wait_for(r"token in (\S+)\)", 0)[1])
        with httpx.Client(base_url=urls["console"], timeout=10) as console:
            login(console, token_file)
            page = console.get(f"/episodes/{acked[1]}")
            assert page.status_code == 200 and "RedisDown" in page.text
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        code = demo.wait(timeout=STOP_TIMEOUT)
    finally:
        children = children or (psutil.Process(demo.pid).children(recursive=True) if demo.poll() is None else [])
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
        for child in children:  # anything the demo failed to stop must not outlive the test
            if child.is_running():
                child.kill()
        out.close()

    text = out.text
    print(f"\n{text}\n\ntiming: the stack up, paged, acked and healed in {up_in:.0f} s")
    assert code == 0, text
    assert up_in < WHOLE_RUN
    for line in (r"^==> starting redis primary on 127\.0\.0\.1:\d+", r"^==> starting redis replica on",
                 r"^==> cachewatch generate spec\.yaml --out generated: \d+ files",
                 r"^==> Prometheus scrapes \d+ targets .*, all up; \d+ rules",
                 r"^==> fault: killed replica 127\.0\.0\.1:\d+",
                 r"^    receiver got: \[firing\] RedisDown \(critical\)",
                 r"^==> alert RedisDown \(critical\) reached the receiver after \d+ s",
                 r"^==> episode \w+ in the console \(firing",
                 r"^    \S+  acked by demo \(via api\)",
                 r"^==> healed: replica", r"^==> episode \w+ resolved after \d+ s",
                 r"^==> VictoriaMetrics holds \d+ series", r"^==> stopped \d+ processes: .*redis-server"):
        assert re.search(line, text, re.MULTILINE), f"no line matching {line!r}"
    gone = [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
    assert not gone, f"still running after the demo ended: {[child.cmdline() for child in gone]}"
    assert len(children) >= 7, [child.cmdline() for child in children]  # redis ×2, exporter, AM, VM, service, Prom
    assert list(tmp_path.iterdir()) == []
