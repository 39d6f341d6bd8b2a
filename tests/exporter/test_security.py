"""Security of the exporter, against real processes and real redis-servers.

1. Secrets never leak (HTTP bodies and headers, logs, metric labels, the command line, error messages).
2. /scrape only contacts allowlisted targets, and never hands one target's credentials to another.
3. Credentials for /scrape targets come from the password file or an auth_module, and reload.
4. A least-privilege ACL user is enough, and refused probes are not repeated on every scrape.
5. TLS to Redis: CA, server name, client certificates.
6. The exporter's own endpoint: exporter-toolkit web config (HTTPS + bcrypt basic auth).
7. HTTP hardening: header timeout (slowloris), head size, bodies, unknown paths and methods.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import psutil
import pytest
import yaml

from cachewatch.exporter.http_server import HttpServer, Request, Response, ServerLimits
from cachewatch.exporter.targets import Allowlist, parse_target
from cachewatch.local_redis import RedisServer, TlsFiles, free_port, start_redis
from tests.support.exporter_process import ExporterProcess, HttpResult, http_get, start_exporter
from tests.support.fake_servers import RespServer

# Every secret in this module contains MARK, so one substring check catches any of them, whole or in part.
MARK = "s3cr3t-Pa55"
PW_MAIN = f"{MARK}-xyz"  # requirepass of the --redis-addr server, given via REDIS_PASSWORD
PW_FILE = f"{MARK}-file"  # requirepass of the /scrape server, given via password file / auth_module file
PW_WRONG = f"{MARK}-wrong"
PW_DEAD = f"{MARK}-dead"


# --- helpers ---------------------------------------------------------------------------------------------


def assert_no_secret(where: str, text: str) -> None:
    index = text.find(MARK)
    assert index < 0, f"a password leaked into {where}: ...{text[max(0, index - 200): index + 80]!r}..."


def assert_response_has_no_secret(what: str, result: HttpResult) -> None:
    assert_no_secret(f"the body of {what}", result.body)
    assert_no_secret(f"the headers of {what}", json.dumps(result.headers))


def scrape_error(result: HttpResult) -> str:
    """The ``err`` label of ``redis_exporter_last_scrape_error`` when it is 1, else ""."""
    match = re.search(r'^redis_exporter_last_scrape_error\{err="([^"]*)"\} 1$', result.body, re.MULTILINE)
    return match[1] if match else ""


def label_values(exposition: str) -> list[str]:
    return re.findall(r'="((?:[^"\\]|\\.)*)"', "\n".join(
        line for line in exposition.splitlines() if line and not line.startswith("#")))


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def run_exporter_to_exit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``cachewatch exporter ARGS`` expecting it to refuse to start (e.g. bad settings)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REDIS")}
    cmd = [sys.executable, "-m", "cachewatch", "exporter", "--listen", f"127.0.0.1:{free_port()}", *args]
    return subprocess.run(cmd, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=30)


def raw_exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes to the exporter and return everything it answers until it closes the connection."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


class RecordingRedis(RespServer):
    """A fake Redis, started at once: counts connections, keeps every command, answers each with ``-ERR x``."""

    def __init__(self) -> None:
        super().__init__(answer=lambda _command: b"-ERR x\r\n")
        self.__enter__()

    @property
    def received(self) -> bytes:
        with self._lock:
            return b"\n".join(b" ".join(command) for command in self.commands)


@pytest.fixture
def fake_redis() -> Iterator[RecordingRedis]:
    server = RecordingRedis()
    yield server
    server.close()


@pytest.fixture
def exporters() -> Iterator[list[ExporterProcess]]:
    """Exporters started by a test; all are stopped at its end, even when it fails."""
    started: list[ExporterProcess] = []
    yield started
    for handle in started:
        handle.stop()


def launch(exporters: list[ExporterProcess], *args: str, **kwargs) -> ExporterProcess:
    handle = start_exporter(*args, **kwargs)
    exporters.append(handle)
    return handle


@pytest.fixture(scope="module")
def server_main() -> Iterator[RedisServer]:
    """The --redis-addr target; its password reaches the exporter only via REDIS_PASSWORD (or the URL)."""
    server = start_redis(password=PW_MAIN)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server_scraped() -> Iterator[RedisServer]:
    """A /scrape target whose password comes from the password file or an auth_module."""
    server = start_redis(password=PW_FILE)
    yield server
    server.stop()


# --- 1. secrets never leak -------------------------------------------------------------------------------


@dataclass
class SecretFiles:
    passwords: Path  # redis_exporter JSON password file
    config: Path  # --config with auth modules that reference password files
    dead_port: int  # a port nobody listens on, which has a password in the password file


@pytest.fixture
def secret_files(tmp_path: Path, server_scraped: RedisServer) -> SecretFiles:
    dead = free_port()
    password_file = write_json(tmp_path / "passwords.json", {
        f"redis://127.0.0.1:{server_scraped.port}": PW_FILE,
        f"redis://127.0.0.1:{dead}": PW_DEAD,
    })
    (tmp_path / "module.pw").write_text(PW_FILE + "\n")
    (tmp_path / "wrong.pw").write_text(PW_WRONG + "\n")
    config = tmp_path / "exporter.yml"
    config.write_text(yaml.safe_dump({"auth_modules": {
        "scraped": {"password_file": str(tmp_path / "module.pw")},
        "wrong": {"password_file": str(tmp_path / "wrong.pw")},
    }}))
    return SecretFiles(password_file, config, dead)


def test_secrets_never_leak_into_responses_logs_labels_or_command_line(
        exporters: list[ExporterProcess], server_main: RedisServer, server_scraped: RedisServer,
        secret_files: SecretFiles) -> None:
    """Every credential source at once, debug logging, and every success and failure path we can provoke."""
    exporter = launch(
        exporters, "--redis-addr", server_main.url, "--password-file", str(secret_files.passwords),
        "--config", str(secret_files.config), "--allow-target", "127.0.0.1:*", "--log-level", "debug",
        env={"REDIS_PASSWORD": PW_MAIN})
    scraped, dead = server_scraped.port, secret_files.dead_port
    transcript: list[tuple[str, HttpResult]] = []

    def call(path: str, status: int, method: str = "GET") -> HttpResult:
        result = exporter.get(path, method=method)
        transcript.append((f"{method} {path}", result))
        assert result.status == status, (path, result.body)
        return result

    # Successful scrapes with each credential source.
    assert call("/metrics", 200).value("redis_up") == 1
    assert call("/metrics", 200).value("redis_up") == 1
    assert call(f"/scrape?target=redis://127.0.0.1:{server_main.port}", 200).value("redis_up") == 1
    assert call(f"/scrape?target=redis://127.0.0.1:{scraped}", 200).value("redis_up") == 1
    assert call(f"/scrape?target=127.0.0.1:{scraped}&auth_module=scraped", 200).value("redis_up") == 1
    # Authentication failure and a dead target that has a password.
    wrong = call(f"/scrape?target=127.0.0.1:{scraped}&auth_module=wrong", 200)
    assert (wrong.value("redis_up"), scrape_error(wrong)) == (0, "auth_failed")
    refused = call(f"/scrape?target=127.0.0.1:{dead}", 200)
    assert (refused.value("redis_up"), scrape_error(refused)) == (0, "connection_refused")
    # Bad /scrape requests, including ones that carry the password in the target URL.
    for target in (f"redis://:{PW_MAIN}@127.0.0.1:{server_main.port}",
                   f"redis://default:{PW_MAIN}@127.0.0.1:{scraped}",
                   f"rediss://:{PW_FILE}@127.0.0.1:{scraped}/0",
                   f"redis://:{PW_MAIN}@127.0.0.1:notaport",
                   f"redis://:{PW_MAIN}@[::1"):
        call(f"/scrape?target={target}", 400)
    call(f"/scrape?target=127.0.0.1:{scraped}&auth_module=nope", 400)
    call("/scrape", 400)
    call("/scrape?target=10.11.12.13:6379", 403)
    # Cluster discovery on non-clusters.
    call("/discover-cluster-nodes", 502)
    call(f"/discover-cluster-nodes?target=127.0.0.1:{scraped}", 502)
    # Reloads: fine, then with a broken password file (the previous credentials stay in use), then fixed.
    call("/-/reload", 405)
    call("/-/reload", 200, method="POST")
    good = secret_files.passwords.read_text()
    secret_files.passwords.write_text(good[: good.index(PW_FILE) + 5])  # truncated mid-password
    assert "not valid JSON" in call("/-/reload", 500, method="POST").body
    write_json(secret_files.passwords, {f"redis://127.0.0.1:{scraped}": [PW_FILE]})
    assert "must be a string" in call("/-/reload", 500, method="POST").body
    assert call(f"/scrape?target=127.0.0.1:{scraped}", 200).value("redis_up") == 1
    secret_files.passwords.write_text(good)
    call("/-/reload", 200, method="POST")
    final = call("/metrics", 200)
    command_line = " ".join(psutil.Process(exporter.proc.pid).cmdline())
    exporter.stop()

    for what, result in transcript:
        assert_response_has_no_secret(what, result)
    for value in label_values(final.body):
        assert_no_secret("a label value of /metrics", value)
    logs = exporter.logs()
    assert '"scrape failed"' in logs and '"reload failed' in logs  # the failure paths were really logged
    assert_no_secret("the exporter's log output", logs)
    assert_no_secret("the exporter's command line", command_line)


def test_url_password_in_redis_addr_authenticates_but_is_never_shown(
        exporters: list[ExporterProcess], server_main: RedisServer) -> None:
    exporter = launch(exporters, "--redis-addr", f"redis://:{PW_MAIN}@127.0.0.1:{server_main.port}",
                      "--log-level", "debug")
    results = [exporter.get("/metrics"), exporter.get("/metrics"),
               exporter.get(f"/scrape?target=redis://127.0.0.1:{server_main.port}"),  # the main target itself
               exporter.get("/discover-cluster-nodes"), exporter.get("/")]
    assert [r.value("redis_up") for r in results[:3]] == [1, 1, 1]
    assert results[3].status == 502
    exporter.stop()
    for result in results:
        assert_response_has_no_secret("a response", result)
    logs = exporter.logs()
    assert f'"target": "redis://127.0.0.1:{server_main.port}"' in logs  # the startup line names the target
    assert_no_secret("the exporter's log output", logs)


@pytest.mark.parametrize("how", ["wrong URL password", "wrong REDIS_PASSWORD", "dead target"])
def test_failing_main_target_does_not_echo_its_password(
        exporters: list[ExporterProcess], server_main: RedisServer, how: str) -> None:
    addr, env = {
        "wrong URL password": (f"redis://:{PW_WRONG}@127.0.0.1:{server_main.port}", {}),
        "wrong REDIS_PASSWORD": (server_main.url, {"REDIS_PASSWORD": PW_WRONG}),
        "dead target": (f"redis://127.0.0.1:{free_port()}", {"REDIS_PASSWORD": PW_MAIN}),
    }[how]
    exporter = launch(exporters, "--redis-addr", addr, env={**env, "REDIS_EXPORTER_DEBUG": "1"})
    results = [exporter.get("/metrics") for _ in range(3)] + [exporter.get("/discover-cluster-nodes")]
    exporter.stop()
    expected = "connection_refused" if how == "dead target" else "auth_failed"
    assert [(r.value("redis_up"), scrape_error(r)) for r in results[:3]] == [(0, expected)] * 3
    assert results[3].status == 502
    for result in results:
        assert_response_has_no_secret(f"/metrics with {how}", result)
    assert '"scrape failed"' in exporter.logs()
    assert_no_secret("the exporter's log output", exporter.logs())


def test_bad_config_file_exits_2_naming_the_field_without_echoing_secrets(tmp_path: Path) -> None:
    config = tmp_path / "exporter.yml"
    config.write_text(yaml.safe_dump({
        "redis_addr": f"redis://:{PW_MAIN}@127.0.0.1:6379",
        "auth_modules": {"prod": {"user": "monitor", "password_env": "PROD_PW"}},
        "scrape_timout": "5s",  # typo
    }))
    result = run_exporter_to_exit("--config", str(config), env={"PROD_PW": PW_FILE})
    assert result.returncode == 2
    assert "scrape_timout" in result.stderr
    assert_no_secret("stderr", result.stdout + result.stderr)


def test_yaml_syntax_error_in_config_does_not_echo_a_url_password(tmp_path: Path) -> None:
    config = tmp_path / "exporter.yml"
    config.write_text(f'redis_addr: "redis://:{PW_MAIN}@127.0.0.1:6379\nlog_level: info\n')  # unclosed quote
    result = run_exporter_to_exit("--config", str(config))
    assert result.returncode == 2
    assert "not valid YAML" in result.stderr
    assert_no_secret("stderr", result.stderr)


@pytest.mark.parametrize("config", [
    {"auth_modules": {"prod": PW_MAIN}},
    {"auth_modules": {"prod": {"passwd": PW_MAIN}}},
    {"redis_addr": [f"redis://:{PW_MAIN}@127.0.0.1:6379"]},
], ids=["module-given-as-password", "mistyped-password-key", "list-valued-url"])
def test_config_validation_error_does_not_echo_a_misplaced_password(tmp_path: Path, config: dict) -> None:
    path = tmp_path / "exporter.yml"
    path.write_text(yaml.safe_dump(config))
    result = run_exporter_to_exit("--config", str(path))
    assert result.returncode == 2
    assert_no_secret("stderr", result.stderr)


def test_password_file_key_with_url_password_is_not_echoed(exporters: list[ExporterProcess], tmp_path: Path,
                                                           server_scraped: RedisServer) -> None:
    bad = {f"redis://:{PW_FILE}@127.0.0.1:{server_scraped.port}": PW_FILE}
    startup = run_exporter_to_exit("--password-file", str(write_json(tmp_path / "bad.json", bad)))
    assert startup.returncode == 2
    good = write_json(tmp_path / "passwords.json", {f"redis://127.0.0.1:{server_scraped.port}": PW_FILE})
    exporter = launch(exporters, "--password-file", str(good))
    write_json(good, bad)
    reload = exporter.get("/-/reload", method="POST")
    exporter.stop()
    assert reload.status == 500
    assert_response_has_no_secret("POST /-/reload", reload)
    assert_no_secret("the exporter's log output", exporter.logs())
    assert_no_secret("stderr of a refused start", startup.stderr)


def test_help_offers_no_password_flag_only_password_files() -> None:
    result = subprocess.run([sys.executable, "-m", "cachewatch", "exporter", "--help"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0
    options = set(re.findall(r"^\s+(--[a-z][a-z-]*)", result.stdout, re.MULTILINE))
    assert "--redis-addr" in options  # the extraction works
    assert {o for o in options if "password" in o} == {"--redis-password-file", "--password-file"}
    assert "There is deliberately no --redis-password flag" in result.stdout


def test_redis_password_flag_is_refused_not_taken_as_an_abbreviation() -> None:
    result = run_exporter_to_exit("--redis-addr", "redis://127.0.0.1:1", "--redis-password", PW_MAIN)
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr
    assert_no_secret("stderr", result.stderr)


# --- 2. the /scrape allowlist -----------------------------------------------------------------------------


def test_target_not_allowlisted_gets_403_and_is_never_contacted(
        exporters: list[ExporterProcess], fake_redis: RecordingRedis) -> None:
    exporter = launch(exporters, "--allow-target", f"127.0.0.1:{fake_redis.port + 1}")
    for target in (f"127.0.0.1:{fake_redis.port}", f"redis://localhost:{fake_redis.port}",
                   f"rediss://127.0.0.1:{fake_redis.port}"):
        result = exporter.get(f"/scrape?target={target}")
        assert result.status == 403, target
        assert "not allowed" in result.body
    assert exporter.get(f"/discover-cluster-nodes?target=127.0.0.1:{fake_redis.port}").status == 403
    time.sleep(0.2)
    assert fake_redis.connections == 0
    assert exporter.get("/metrics").value("redis_target_scrape_request_errors_total") == 4


def test_without_allow_target_every_scrape_target_is_refused(
        exporters: list[ExporterProcess], fake_redis: RecordingRedis, server_scraped: RedisServer) -> None:
    exporter = launch(exporters)
    refused = [exporter.get(f"/scrape?target={t}").status
               for t in (f"127.0.0.1:{fake_redis.port}", server_scraped.url, "127.0.0.1:6379", "[::1]:6379")]
    assert refused == [403] * 4
    assert exporter.get("/scrape?target=redis://:x@127.0.0.1:6379").status == 400  # bad requests count too
    assert exporter.get("/metrics").value("redis_target_scrape_request_errors_total") == 5
    assert fake_redis.connections == 0


def test_allow_any_target_lets_scrape_contact_anything(
        exporters: list[ExporterProcess], fake_redis: RecordingRedis) -> None:
    exporter = launch(exporters, "--allow-any-target")
    result = exporter.get(f"/scrape?target=127.0.0.1:{fake_redis.port}")
    assert result.status == 200
    assert result.value("redis_up") == 0  # the fake answers INFO with an error
    assert fake_redis.connections == 1
    assert exporter.get("/metrics").value("redis_target_scrape_request_errors_total") == 0


def test_allow_target_glob_matches_host_and_port(exporters: list[ExporterProcess], fake_redis: RecordingRedis
                                                 ) -> None:
    other = RecordingRedis()
    try:
        exporter = launch(exporters, "--allow-target", "10.0.0.1:6379", "--allow-target",
                          f"127.0.0.*:{fake_redis.port}")
        assert exporter.get(f"/scrape?target=127.0.0.1:{fake_redis.port}").status == 200
        assert exporter.get(f"/scrape?target=127.0.0.1:{other.port}").status == 403
        assert exporter.get(f"/scrape?target=localhost:{fake_redis.port}").status == 403  # no DNS games
        assert (fake_redis.connections, other.connections) == (1, 0)
    finally:
        other.close()


@pytest.mark.parametrize(("pattern", "target", "allowed"), [
    ("127.0.0.1:6379", "redis://127.0.0.1:6379", True),
    ("127.0.0.1:6379", "127.0.0.1", True),  # the default port
    ("127.0.0.1:*", "rediss://127.0.0.1:7001/3", True),
    ("10.0.*:6379", "10.0.3.4:6379", True),
    ("*.cache.internal:6379", "redis://monitor@a.cache.internal:6379", True),
    ("::1:6379", "redis://[::1]:6379", True),  # IPv6: the unbracketed form
    ("127.0.0.1:6379", "127.0.0.1:6380", False),
    ("127.0.0.1", "127.0.0.1:6379", False),  # a pattern without a port matches nothing
    ("localhost:6379", "127.0.0.1:6379", False),  # names are matched literally, never resolved
    ("10.0.*:6379", "10.0.3.4:16379", False),
    ("*.cache.internal:6379", "cache.internal.evil.com:6379", False),
])
def test_allowlist_glob_semantics(pattern: str, target: str, allowed: bool) -> None:
    assert Allowlist((pattern,)).allows(parse_target(target)[0]) is allowed


def test_allowlist_accepts_bracketed_ipv6_patterns() -> None:
    allowlist = Allowlist(("[::1]:6379",))
    assert allowlist.allows(parse_target("redis://[::1]:6379")[0])
    assert not allowlist.allows(parse_target("1:6379")[0])


@pytest.mark.parametrize("main", ["redis://127.0.0.1:{port}", "redis://default@127.0.0.1:{port}"])
def test_main_password_is_never_sent_to_a_scrape_target(
        exporters: list[ExporterProcess], fake_redis: RecordingRedis, server_main: RedisServer, main: str) -> None:
    exporter = launch(exporters, "--redis-addr", main.format(port=server_main.port),
                      "--allow-target", f"127.0.0.1:{fake_redis.port}", env={"REDIS_PASSWORD": PW_MAIN})
    assert exporter.get("/metrics").value("redis_up") == 1
    for target in (f"127.0.0.1:{fake_redis.port}", f"redis://default@127.0.0.1:{fake_redis.port}"):
        assert exporter.get(f"/scrape?target={target}").status == 200
    assert fake_redis.connections == 2
    assert b"INFO" in fake_redis.received  # the fake really was scraped ...
    assert MARK.encode() not in fake_redis.received  # ... but never saw the password
    assert b"AUTH" not in fake_redis.received.upper()


def test_password_for_a_tls_target_is_never_sent_over_plain_tcp(
        exporters: list[ExporterProcess], fake_redis: RecordingRedis, tmp_path: Path) -> None:
    passwords = write_json(tmp_path / "passwords.json", {f"rediss://127.0.0.1:{fake_redis.port}": PW_FILE})
    exporter = launch(exporters, "--password-file", str(passwords), "--allow-target", "127.0.0.1:*")
    assert exporter.get(f"/scrape?target=redis://127.0.0.1:{fake_redis.port}").status == 200
    assert fake_redis.connections == 1
    assert MARK.encode() not in fake_redis.received


# --- 3. credentials from the password file and auth modules ------------------------------------------------


@pytest.fixture
def module_config(tmp_path: Path) -> Path:
    (tmp_path / "scraped.pw").write_text(PW_FILE + "\n")
    config = tmp_path / "exporter.yml"
    config.write_text(yaml.safe_dump({"auth_modules": {
        "scraped": {"password_file": str(tmp_path / "scraped.pw")},
        "by_env": {"password_env": "SCRAPED_PW"},
    }}))
    return config


@pytest.mark.parametrize("target", ["redis://127.0.0.1:{port}", "127.0.0.1:{port}", "redis://127.0.0.1:{port}/0"])
def test_password_file_supplies_the_scrape_target_password(
        exporters: list[ExporterProcess], tmp_path: Path, server_scraped: RedisServer, target: str) -> None:
    passwords = write_json(tmp_path / "passwords.json", {f"redis://127.0.0.1:{server_scraped.port}": PW_FILE})
    exporter = launch(exporters, "--password-file", str(passwords), "--allow-target", "127.0.0.1:*")
    result = exporter.get(f"/scrape?target={target.format(port=server_scraped.port)}")
    assert (result.value("redis_up"), scrape_error(result)) == (1, "")
    assert result.value('redis_db_keys{db="db0"}') is not None


def test_auth_module_supplies_credentials(exporters: list[ExporterProcess], module_config: Path,
                                          server_scraped: RedisServer) -> None:
    exporter = launch(exporters, "--config", str(module_config), "--allow-target", "127.0.0.1:*",
                      env={"SCRAPED_PW": PW_FILE})
    base = f"/scrape?target=127.0.0.1:{server_scraped.port}"
    for module in ("scraped", "by_env"):
        result = exporter.get(f"{base}&auth_module={module}")
        assert (result.value("redis_up"), scrape_error(result)) == (1, ""), module
    without = exporter.get(base)
    assert (without.value("redis_up"), scrape_error(without)) == (0, "auth_required")


def test_unknown_auth_module_is_400_naming_the_known_modules(exporters: list[ExporterProcess], module_config: Path,
                                                             fake_redis: RecordingRedis) -> None:
    exporter = launch(exporters, "--config", str(module_config), "--allow-target", "127.0.0.1:*",
                      env={"SCRAPED_PW": PW_FILE})
    result = exporter.get(f"/scrape?target=127.0.0.1:{fake_redis.port}&auth_module=nope")
    assert result.status == 400
    assert "'nope'" in result.body and "by_env, scraped" in result.body
    assert fake_redis.connections == 0


def test_post_reload_rereads_a_changed_password_file(exporters: list[ExporterProcess], tmp_path: Path,
                                                     server_scraped: RedisServer) -> None:
    key = f"redis://127.0.0.1:{server_scraped.port}"
    passwords = write_json(tmp_path / "passwords.json", {key: PW_WRONG})
    exporter = launch(exporters, "--password-file", str(passwords), "--allow-target", "127.0.0.1:*")
    before = exporter.get(f"/scrape?target={key}")
    assert (before.value("redis_up"), scrape_error(before)) == (0, "auth_failed")

    write_json(passwords, {key: PW_FILE})
    assert exporter.get(f"/scrape?target={key}").value("redis_up") == 0  # not re-read without a reload
    get = exporter.get("/-/reload")
    assert get.status == 405 and get.headers.get("Allow") == "POST"
    assert exporter.get("/-/reload", method="POST").status == 200
    after = exporter.get(f"/scrape?target={key}")
    assert (after.value("redis_up"), scrape_error(after)) == (1, "")


# --- 4. least-privilege monitoring user --------------------------------------------------------------------


def error_counts(server: RedisServer) -> dict[str, int]:
    """``INFO errorstats`` as {error prefix: count}."""
    counts = {}
    for line in server.cli("INFO", "errorstats").splitlines():
        if line.startswith("errorstat_"):
            name, _, rest = line.partition(":")
            counts[name.removeprefix("errorstat_")] = int(rest.split("=")[1])
    return counts


MAIN_FAMILIES = ("redis_memory_used_bytes", "redis_commands_total", "redis_db_keys", "redis_connected_clients",
                 "redis_uptime_in_seconds", "redis_commands_latencies_usec_bucket", "redis_config_maxmemory",
                 "redis_slowlog_length", "redis_acl_log_entries")


def test_least_privilege_monitor_user_gets_every_main_family(exporters: list[ExporterProcess],
                                                             redis_primary: RedisServer) -> None:
    exporter = launch(exporters, "--redis-addr", f"redis://monitor@127.0.0.1:{redis_primary.port}",
                      env={"REDIS_PASSWORD": "monitor-secret-pw"})
    before = error_counts(redis_primary)
    first = exporter.get("/metrics")
    assert (first.value("redis_up"), scrape_error(first)) == (1, "")
    errors_after_first = error_counts(redis_primary)
    for _ in range(5):
        result = exporter.get("/metrics")
        assert (result.value("redis_up"), scrape_error(result)) == (1, "")
    names = {line.split("{")[0].split(" ")[0] for line in result.series()}
    assert set(MAIN_FAMILIES) <= names, set(MAIN_FAMILIES) - names
    assert errors_after_first.get("NOPERM", 0) == before.get("NOPERM", 0)  # the ACL grants all we send
    assert error_counts(redis_primary) == errors_after_first  # nothing fails on every scrape


def test_refused_probes_are_sent_once_per_connection(exporters: list[ExporterProcess]) -> None:
    """A user that may only run INFO: each refused command costs one NOPERM, not one per scrape."""
    server = start_redis(acl_users={"infoonly": "on >infoonly-pw ~* -@all +info +client|setname"})
    try:
        exporter = launch(exporters, "--redis-addr", f"redis://infoonly@127.0.0.1:{server.port}",
                          env={"REDIS_PASSWORD": "infoonly-pw"})
        counts = []
        for _ in range(8):
            result = exporter.get("/metrics")
            assert (result.value("redis_up"), scrape_error(result)) == (1, "")
            counts.append(error_counts(server).get("NOPERM", 0))
        assert result.value("redis_memory_used_bytes") is not None
        # Scrape 1 probes everything once; scrape 2 tries the CONFIG GET * fallback; then nothing more.
        assert counts[0] >= 5
        assert counts[2:] == [counts[1]] * 6, counts
        # A new connection (after CLIENT KILL) probes once more, and only once.
        server.cli("CLIENT", "KILL", "USER", "infoonly")
        for _ in range(4):
            exporter.get("/metrics")
        after_reconnect = error_counts(server)["NOPERM"]
        exporter.get("/metrics")
        exporter.get("/metrics")
        assert error_counts(server)["NOPERM"] == after_reconnect
    finally:
        server.stop()


# --- 5. TLS to Redis --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_tls_required(tls_files: TlsFiles) -> Iterator[RedisServer]:
    server = start_redis("--tls-auth-clients", "yes", tls=tls_files)
    yield server
    server.stop()


def tls_scrape(exporters: list[ExporterProcess], port: int, *args: str) -> HttpResult:
    exporter = launch(exporters, "--redis-addr", f"rediss://127.0.0.1:{port}", "--scrape-timeout", "5s", *args)
    return exporter.get("/metrics")


def test_rediss_with_the_ca_is_up(exporters: list[ExporterProcess], redis_tls: RedisServer,
                                  tls_files: TlsFiles) -> None:
    result = tls_scrape(exporters, redis_tls.tls_port, "--tls-ca-cert-file", str(tls_files.ca_cert))
    assert (result.value("redis_up"), scrape_error(result)) == (1, "")


def test_rediss_with_localhost_server_name_is_up(exporters: list[ExporterProcess], redis_tls: RedisServer,
                                                 tls_files: TlsFiles) -> None:
    result = tls_scrape(exporters, redis_tls.tls_port, "--tls-ca-cert-file", str(tls_files.ca_cert),
                        "--tls-server-name", "localhost")
    assert (result.value("redis_up"), scrape_error(result)) == (1, "")


def test_rediss_without_the_ca_fails_verification(exporters: list[ExporterProcess], redis_tls: RedisServer
                                                  ) -> None:
    result = tls_scrape(exporters, redis_tls.tls_port)
    assert (result.value("redis_up"), scrape_error(result)) == (0, "tls_error")


def test_rediss_with_a_wrong_server_name_fails_verification(exporters: list[ExporterProcess],
                                                            redis_tls: RedisServer, tls_files: TlsFiles) -> None:
    result = tls_scrape(exporters, redis_tls.tls_port, "--tls-ca-cert-file", str(tls_files.ca_cert),
                        "--tls-server-name", "not-the-server.example")
    assert (result.value("redis_up"), scrape_error(result)) == (0, "tls_error")


def test_skip_tls_verification_accepts_an_unknown_ca(exporters: list[ExporterProcess], redis_tls: RedisServer
                                                     ) -> None:
    result = tls_scrape(exporters, redis_tls.tls_port, "--skip-tls-verification")
    assert (result.value("redis_up"), scrape_error(result)) == (1, "")


def test_rediss_client_certificate_is_presented_when_the_server_requires_one(
        exporters: list[ExporterProcess], redis_tls_required: RedisServer, tls_files: TlsFiles) -> None:
    ca = ("--tls-ca-cert-file", str(tls_files.ca_cert))
    with_cert = tls_scrape(exporters, redis_tls_required.tls_port, *ca, "--tls-client-cert-file",
                           str(tls_files.client_cert), "--tls-client-key-file", str(tls_files.client_key))
    assert (with_cert.value("redis_up"), scrape_error(with_cert)) == (1, "")
    without = tls_scrape(exporters, redis_tls_required.tls_port, *ca)
    assert without.value("redis_up") == 0
    assert scrape_error(without) in {"tls_error", "connection_closed", "connection_error"}


def test_client_certificate_without_key_is_refused_at_startup(tls_files: TlsFiles) -> None:
    result = run_exporter_to_exit("--redis-addr", "rediss://127.0.0.1:6379", "--tls-client-cert-file",
                                  str(tls_files.client_cert))
    assert result.returncode == 2
    assert "certificate and key must be given together" in result.stderr


# --- 6. the exporter's own endpoint: web config ------------------------------------------------------------

WEB_USERS = {"alice": "alice-pw", "bob": "bob:pw:with:colons", "carol": "carol-slow-hash-pw"}


@pytest.fixture(scope="module")
def web_config(tmp_path_factory: pytest.TempPathFactory, tls_files: TlsFiles) -> Path:
    # carol's hash is expensive (cost 11), so a cache hit is clearly faster than a bcrypt check.
    rounds = {"alice": 4, "bob": 4, "carol": 11}
    path = tmp_path_factory.mktemp("web") / "web.yml"
    path.write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(tls_files.server_cert), "key_file": str(tls_files.server_key)},
        "basic_auth_users": {u: bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=rounds[u])).decode()
                             for u, p in WEB_USERS.items()},
    }))
    return path


@pytest.fixture(scope="module")
def client_tls(tls_files: TlsFiles) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files.ca_cert))


@pytest.fixture(scope="module")
def web_exporter(web_config: Path, client_tls: ssl.SSLContext) -> Iterator[ExporterProcess]:
    with start_exporter("--web-config", str(web_config), tls=client_tls) as handle:
        yield handle


def test_https_works_with_the_ca_and_plain_http_fails(web_exporter: ExporterProcess,
                                                      client_tls: ssl.SSLContext) -> None:
    assert web_exporter.get("/metrics", basic("alice", WEB_USERS["alice"]), tls=client_tls).status == 200
    with pytest.raises((OSError, http.client.HTTPException)):
        http_get(web_exporter.port, "/metrics", basic("alice", WEB_USERS["alice"]), timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError):  # a client that does not trust our CA
        web_exporter.get("/metrics", tls=ssl.create_default_context(), timeout=5)
    assert web_exporter.get("/health", basic("bob", WEB_USERS["bob"]), tls=client_tls).status == 200


@pytest.mark.parametrize(("headers", "why"), [
    ({}, "no credentials"),
    (basic("alice", "wrong"), "wrong password"),
    (basic("alice", WEB_USERS["bob"]), "another user's password"),
    (basic("mallory", "alice-pw"), "unknown user"),
    ({"Authorization": "Basic !!!"}, "malformed header"),
    ({"Authorization": "Bearer " + base64.b64encode(b"alice:alice-pw").decode()}, "wrong scheme"),
])
def test_requests_without_valid_basic_auth_get_401(web_exporter: ExporterProcess, client_tls: ssl.SSLContext,
                                                   headers: dict[str, str], why: str) -> None:
    for path in ("/metrics", "/health", "/scrape?target=127.0.0.1:6379", "/nope"):
        result = web_exporter.get(path, headers, tls=client_tls)
        assert result.status == 401, (why, path)
        assert result.headers.get("WWW-Authenticate", "").startswith("Basic realm="), why


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_each_configured_user_gets_metrics(web_exporter: ExporterProcess, client_tls: ssl.SSLContext,
                                           user: str) -> None:
    result = web_exporter.get("/metrics", basic(user, WEB_USERS[user]), tls=client_tls)
    assert result.status == 200
    assert result.value("redis_exporter_targets") == 0


def test_repeated_correct_auth_is_answered_from_the_cache(web_exporter: ExporterProcess,
                                                          client_tls: ssl.SSLContext) -> None:
    headers = basic("carol", WEB_USERS["carol"])

    def timed() -> float:
        start = time.perf_counter()
        assert web_exporter.get("/health", headers, tls=client_tls).status == 200
        return time.perf_counter() - start

    first = timed()  # runs bcrypt at cost 11
    repeated = min(timed() for _ in range(5))
    assert repeated < first / 2, (first, repeated)
    assert repeated < 0.1, repeated


@pytest.mark.parametrize(("config", "field"), [
    ({"tls_server_config": {"cert_file": "server.crt"}}, "tls_server_config.key_file"),
    ({"tls_server_config": {"cert_file": "missing.crt", "key_file": "missing.key"}}, "tls_server_config.cert_file"),
    ({"basic_auth_users": {"alice": "plain-text-password"}}, "basic_auth_users.alice"),
    ({"basic_auth_user": {}}, "basic_auth_user"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "client_auth_type": "RequestClientCert"}},
     "tls_server_config.client_auth_type"),
])
def test_bad_web_config_exits_2_naming_the_field(tmp_path: Path, config: dict, field: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(config))
    result = run_exporter_to_exit("--web-config", str(path))
    assert result.returncode == 2
    assert f"{field}:" in result.stderr
    assert "plain-text-password" not in result.stderr


# --- 7. HTTP hardening -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_exporter() -> Iterator[ExporterProcess]:
    with start_exporter() as handle:
        yield handle


async def ok_handler(request: Request) -> Response:
    return Response(200, "ok\n")


def run_against_server(limits: ServerLimits, client) -> object:
    """Run ``await client(port)`` against an in-process HttpServer with ``limits`` and a trivial handler."""

    async def main() -> object:
        server = HttpServer(ok_handler, limits)
        await server.start("127.0.0.1", 0)
        try:
            return await client(server.sockets[0].getsockname()[1])
        finally:
            await server.close()

    return asyncio.run(main())


async def seconds_until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: float,
                               trickle: bytes = b"") -> float:
    """Seconds until the server closes the connection (EOF or reset), sending ``trickle`` a byte at a time."""
    start = time.monotonic()
    try:
        while time.monotonic() - start < limit:
            if trickle:
                writer.write(trickle[:1])
                trickle = trickle[1:]
                await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1024), 0.1) == b"":
                    break
            except TimeoutError:
                continue
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.monotonic() - start


def test_slowloris_partial_request_line_is_cut_off_after_the_header_timeout() -> None:
    async def client(port: int) -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metr")
        await writer.drain()
        return await seconds_until_closed(reader, writer, limit=5)

    elapsed = run_against_server(ServerLimits(header_timeout=0.5), client)
    assert 0.4 <= elapsed < 1.5


def test_slowloris_trickling_bytes_does_not_extend_the_header_timeout() -> None:
    async def client(port: int) -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        trickle = b"GET /metrics HTTP/1.1\r\nX-A: " + b"a" * 100
        return await seconds_until_closed(reader, writer, limit=5, trickle=trickle)

    elapsed = run_against_server(ServerLimits(header_timeout=0.5), client)
    assert 0.4 <= elapsed < 1.5


def test_slowloris_on_a_kept_alive_connection_is_cut_off_after_the_header_timeout() -> None:
    async def client(port: int) -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert await reader.readexactly(3) == b"ok\n"
        writer.write(b"GET /b HTTP/1.1\r\nX-Slow: ")
        await writer.drain()
        return await seconds_until_closed(reader, writer, limit=6)

    elapsed = run_against_server(ServerLimits(header_timeout=0.5, idle_timeout=4.0), client)
    assert elapsed < 1.5


def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout() -> None:
    async def client(port: int) -> tuple[int, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(3)
        return await seconds_until_closed(reader, writer, limit=5)

    elapsed = run_against_server(ServerLimits(header_timeout=0.15, idle_timeout=0.5), client)
    assert 0.4 <= elapsed < 1.25


def test_request_head_over_16_kib_gets_431(plain_exporter: ExporterProcess) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * (17 * 1024) + b"\r\n\r\n"
    answer = raw_exchange(plain_exporter.port, head)
    assert status_of(answer) == 431
    assert b"Connection: close" in answer


def test_request_head_just_under_16_kib_is_served(plain_exporter: ExporterProcess) -> None:
    head = (b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Filler: " + b"a" * (15 * 1024)
            + b"\r\n\r\n")
    assert status_of(raw_exchange(plain_exporter.port, head)) == 200


@pytest.mark.parametrize("framing", [b"Content-Length: 26\r\n", b"Transfer-Encoding: chunked\r\n"])
def test_request_with_a_body_gets_413_and_the_body_is_not_parsed_as_a_request(
        plain_exporter: ExporterProcess, framing: bytes) -> None:
    smuggled = b"GET /health HTTP/1.1\r\n\r\n"
    body = smuggled if framing.startswith(b"Content-Length") else b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    answer = raw_exchange(plain_exporter.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n" + body)
    assert status_of(answer) == 413
    assert answer.count(b"HTTP/1.1 ") == 1  # one answer, then the connection is closed


def test_request_with_conflicting_content_lengths_is_refused(plain_exporter: ExporterProcess) -> None:
    smuggled = b"GET /smuggled HTTP/1.1\r\n\r\n"
    request = (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nContent-Length: 0\r\n"
               b"Connection: keep-alive\r\n\r\n%s" % (len(smuggled), smuggled))
    with socket.create_connection(("127.0.0.1", plain_exporter.port), timeout=5) as sock:
        sock.sendall(request)
        time.sleep(0.5)
        answer = sock.recv(65536)
    assert status_of(answer) in (400, 413)
    assert answer.count(b"HTTP/1.1 ") == 1


def test_unknown_path_gets_404(plain_exporter: ExporterProcess) -> None:
    for path in ("/nope", "/metrics/", "/scrape/x", "/../etc/passwd", "/%2e%2e/metrics"):
        assert plain_exporter.get(path).status == 404, path


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_metrics_only_answers_get_and_head(plain_exporter: ExporterProcess, method: str) -> None:
    result = plain_exporter.get("/metrics", method=method)
    assert result.status == 405
    assert result.headers.get("Allow") == "GET, HEAD"
    head = plain_exporter.get("/metrics", method="HEAD")
    assert head.status == 200 and head.body == ""


def test_malformed_request_line_gets_400(plain_exporter: ExporterProcess) -> None:
    for line in (b"GET /metrics\r\n\r\n", b"GET http://evil/ HTTP/1.1\r\n\r\n", b"GET / FTP/1.0\r\n\r\n",
                 b"GET / HTTP/1.1\r\nBad Header : x\r\n\r\n"):
        assert status_of(raw_exchange(plain_exporter.port, line)) == 400, line
