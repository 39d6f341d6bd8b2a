"""Real redis-server instances on free ports, for the demo, the tests and the benchmarks.

Every helper starts a genuine ``redis-server`` (Debian package) in its own temporary
directory and returns a handle that stops it and removes its files. Nothing here
talks to a Redis that the machine may already run on 6379.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "install it with: apt-get install -y redis-server (scripts/setup.sh does this)"

# A least-privilege monitoring user (the README recommends the same rules): the scrape commands, plus
# key names (~*) and SCAN/TYPE/MEMORY USAGE/OBJECT FREQ only for key sampling; no command reads a value.
MONITOR_ACL = (
    "on >monitor-secret-pw ~* -@all +info +client|setname +config|get "
    "+latency|latest +latency|histogram +slowlog|get +slowlog|len +cluster|info "
    "+cluster|nodes +acl|log +memory|usage +object|freq +scan +type +select"
)


def require_binary(name: str) -> str:
    """Return the path of ``name`` or fail with the command that installs it."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found on PATH; {INSTALL_HINT}")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    """One running redis-server; ``stop()`` kills it and removes its directory."""

    port: int
    workdir: Path
    proc: subprocess.Popen
    password: str | None = None
    tls_port: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def cli(self, *args: str, user: str | None = None, password: str | None = None) -> str:
        cmd = [require_binary("redis-cli"), "-h", "127.0.0.1", "-p", str(self.port)]
        if user:
            cmd += ["--user", user]
        pw = password if password is not None else self.password
        if pw:
            cmd += ["-a", pw, "--no-auth-warning"]
        out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"redis-cli {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self) -> None:
        """Kill the process but keep the handle (for fault tests)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _wait_ready(port: int, proc: subprocess.Popen, logfile: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited early: {logfile.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
                if reply.startswith((b"+PONG", b"-NOAUTH", b"-ERR AUTH", b"-NOPERM")):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"redis-server on port {port} not ready after {timeout}s")


class PortTaken(RuntimeError):
    """The port picked as free was taken before redis-server bound it."""


def start_redis(
    *args: str,
    password: str | None = None,
    acl_users: dict[str, str] | None = None,
    tls: TlsFiles | None = None,
    port: int | None = None,
) -> RedisServer:
    """Start a redis-server with ``args`` (``--key value`` pairs) on ``port`` or a free port.

    ``acl_users`` maps user name to an ACL rule string (as after ``ACL SETUSER name``).
    With ``tls`` the server listens with TLS on the returned ``tls_port`` and plain on ``port``.
    A free port can be taken by someone else before redis-server binds it; then we pick another.
    """
    for attempt in range(5):
        try:
            return _start_redis_once(args, password, acl_users, tls, port)
        except PortTaken:
            if port is not None or attempt == 4:
                raise
    raise AssertionError("unreachable")


def _start_redis_once(args: tuple[str, ...], password: str | None, acl_users: dict[str, str] | None,
                      tls: TlsFiles | None, port: int | None) -> RedisServer:
    binary = require_binary("redis-server")
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"cw-redis-{port}-"))
    conf = [
        f"port {port}",
        "bind 127.0.0.1",
        f"dir {workdir}",
        'save ""',
        "appendonly no",
        f"logfile {workdir / 'redis.log'}",
        "daemonize no",
        "protected-mode no",
        "latency-tracking yes",
        "enable-debug-command local",  # tests pause the server with DEBUG SLEEP from localhost
        "repl-diskless-sync-delay 0",  # a replica syncs at once (the default waits 5 s for more replicas)
    ]
    if password:
        conf.append(f"requirepass {password}")
    for name, rule in (acl_users or {}).items():
        conf.append(f"user {name} {rule}")
    tls_port = None
    if tls is not None:
        tls_port = free_port()
        conf += [
            f"tls-port {tls_port}",
            f"tls-cert-file {tls.server_cert}",
            f"tls-key-file {tls.server_key}",
            f"tls-ca-cert-file {tls.ca_cert}",
            "tls-auth-clients optional",
        ]
    (workdir / "redis.conf").write_text("\n".join(conf) + "\n")
    proc = subprocess.Popen(
        [binary, str(workdir / "redis.conf"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    server = RedisServer(port=port, workdir=workdir, proc=proc, password=password, tls_port=tls_port)
    try:
        _wait_ready(port, proc, workdir / "redis.log")
    except RuntimeError as exc:
        server.stop()
        if "Address already in use" in str(exc):
            raise PortTaken(str(exc)) from None
        raise
    return server


def start_replica(primary: RedisServer, timeout: float = 10.0) -> RedisServer:
    """Start a replica of ``primary`` and wait until its link is up on both ends: the replica says
    ``master_link_status:up`` and the primary lists it ``state=online`` (a moment later, after its first ACK)."""
    args = ["--replicaof", "127.0.0.1", str(primary.port)]
    if primary.password:
        args += ["--masterauth", primary.password]
    replica = start_redis(*args, password=primary.password)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "master_link_status:up" in replica.cli("INFO", "replication") and \
                f"port={replica.port},state=online" in primary.cli("INFO", "replication"):
            return replica
        time.sleep(0.05)
    replica.stop()
    raise RuntimeError("replica link did not come up")


@dataclass
class RedisCluster:
    nodes: list[RedisServer]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_cluster(primaries: int = 3, timeout: float = 20.0) -> RedisCluster:
    """Start ``primaries`` cluster-enabled nodes and join them with ``redis-cli --cluster create``."""
    nodes: list[RedisServer] = []
    try:
        for _ in range(primaries):
            nodes.append(
                start_redis(
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",  # each node has its own directory
                    "--cluster-node-timeout", "2000",
                    # An explicit bus port: the default (port + 10000) may be taken or out of range.
                    "--cluster-port", str(free_port()),
                )
            )
        subprocess.run(
            [require_binary("redis-cli"), "--cluster", "create", *[n.addr for n in nodes], "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in nodes):
                return RedisCluster(nodes)
            time.sleep(0.1)
        raise RuntimeError("cluster did not reach cluster_state:ok")
    except Exception:
        for node in nodes:
            node.stop()
        raise


@dataclass
class TlsFiles:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path, server_name: str = "localhost") -> TlsFiles:
    """Generate a throw-away CA plus server and client certificates with openssl."""
    openssl = require_binary("openssl")
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=directory, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=cachewatch-test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    ext = directory / "san.ext"
    ext.write_text(f"subjectAltName=DNS:{server_name},IP:127.0.0.1\n")
    for who, extra in (("server", ["-extfile", str(ext)]), ("client", [])):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={server_name if who == 'server' else 'client'}",
            "-keyout", f"{who}.key", "-out", f"{who}.csr")
        run("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", f"{who}.crt", *extra)
    return TlsFiles(
        directory=directory,
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )

