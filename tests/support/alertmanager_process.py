"""A real Alertmanager (Debian's ``prometheus-alertmanager``) on free ports for end-to-end tests: one instance, or
a gossiping cluster on loopback whose peers can be restarted."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cachewatch.local_redis import free_port, require_binary

# Gossip fast enough that a two-peer cluster settles in about two seconds and a silence reaches the other peer in
# well under one; the defaults (200ms gossip, 1m push-pull, 15s peer timeout, 1m settle) are for real networks.
CLUSTER_TIMINGS = ("--cluster.gossip-interval=50ms", "--cluster.pushpull-interval=1s", "--cluster.peer-timeout=500ms",
                   "--cluster.probe-interval=200ms", "--cluster.probe-timeout=100ms", "--cluster.settle-timeout=5s",
                   "--cluster.reconnect-interval=1s")
START_TIMEOUT = 30.0
BIND_ATTEMPTS = 3


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=1) as response:
        return json.loads(response.read())


def _wait(condition: Callable[[], bool], proc: subprocess.Popen, log: Path, what: str) -> None:
    """Poll ``condition()`` until true; fail with the log when the process dies or the time is up."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if condition():
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"alertmanager did not {what}:\n{log.read_text()}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (the peer leaves the gossip cluster gracefully), SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


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


@dataclass
class _Peer:
    """One cluster member: its fixed ports and directory survive a restart, its process does not."""

    web_port: int
    gossip_port: int
    workdir: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def gossip(self) -> str:
        return f"127.0.0.1:{self.gossip_port}"

    @property
    def log(self) -> Path:
        return self.workdir / "alertmanager.log"


@dataclass
class AlertmanagerCluster:
    """A running cluster: ``urls`` are the members' base URLs (index i is peer i, stable across restarts)."""

    binary: str
    config: Path
    peers: list[_Peer] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [peer.url for peer in self.peers]

    def start(self, i: int) -> None:
        peer = self.peers[i]
        others = [f"--cluster.peer={other.gossip}" for other in self.peers if other is not peer]
        with peer.log.open("a") as log:  # appended across restarts, so a failure shows the whole story
            peer.proc = subprocess.Popen(
                [self.binary, f"--config.file={self.config}", f"--storage.path={peer.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{peer.web_port}", f"--cluster.listen-address={peer.gossip}",
                 f"--cluster.advertise-address={peer.gossip}", *others, *CLUSTER_TIMINGS],
                stdout=log, stderr=subprocess.STDOUT)

    def stop(self, i: int) -> None:
        if self.peers[i].proc is not None:
            _stop(self.peers[i].proc)

    def restart(self, i: int) -> None:
        """Stop peer ``i`` and start it again on the same ports and storage; return once the cluster is whole."""
        self.stop(i)
        self.start(i)
        self.wait_ready()

    def wait_ready(self) -> None:
        """Every peer answers and says its gossip has settled, and every peer lists exactly the members that are
        running now (by node name, so a restarted peer counts only once the others know its new incarnation)."""
        for peer in self.peers:
            assert peer.proc is not None
            _wait(lambda peer=peer: _status(peer.url).get("status") == "ready", peer.proc, peer.log, "settle")
        names = sorted(_status(peer.url)["name"] for peer in self.peers)
        for peer in self.peers:
            assert peer.proc is not None
            _wait(lambda peer=peer: _peer_names(peer.url) == names, peer.proc, peer.log, "see all the peers")

    def stop_all(self) -> None:
        for i in range(len(self.peers)):
            self.stop(i)


def _status(url: str) -> dict:
    return _get_json(url + "/api/v2/status")["cluster"]


def _peer_names(url: str) -> list[str]:
    return sorted(peer["name"] for peer in _status(url).get("peers", []))


@contextlib.contextmanager
def running_alertmanager_cluster(config: Path, tmp: Path, size: int = 2) -> Iterator[AlertmanagerCluster]:
    """``size`` Alertmanagers gossiping on loopback, each with its data and log under ``tmp/am<i>``; yields once
    every peer is ready and sees all the others, and always stops them all."""
    cluster = AlertmanagerCluster(binary=require_binary("prometheus-alertmanager"), config=config)
    try:
        for attempt in range(BIND_ATTEMPTS):
            cluster.peers = _new_peers(tmp, size)
            for i in range(size):
                cluster.start(i)
            try:
                cluster.wait_ready()
                break
            except pytest.fail.Exception:
                cluster.stop_all()
                lost_race = any("address already in use" in peer.log.read_text() for peer in cluster.peers)
                if not lost_race or attempt == BIND_ATTEMPTS - 1:
                    raise
        yield cluster
    finally:
        cluster.stop_all()


def _new_peers(tmp: Path, size: int) -> list[_Peer]:
    """Peers on distinct free ports (a free port can be taken by another process before a peer binds it: the
    caller retries with new ones)."""
    ports: list[int] = []
    while len(ports) < 2 * size:
        if (port := free_port()) not in ports:
            ports.append(port)
    peers = []
    for i in range(size):
        workdir = tmp / f"am{i}"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alertmanager.log").write_text("")
        peers.append(_Peer(web_port=ports[2 * i], gossip_port=ports[2 * i + 1], workdir=workdir))
    return peers
