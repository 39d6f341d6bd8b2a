"""How ``cachewatch health`` logs in: a cluster's own spec credentials (a secret reference, read at run time),
TLS files for rediss:// nodes, and usage errors that name the field, never the secret."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from cachewatch.local_redis import RedisServer, TlsFiles
from cachewatch.spec import Cluster, FleetSpec, Node, RedisCredentials, Region, SecretRef, Team
from tests.health.command import EX_USAGE, HEALTHY_ARGS, environment, health
from tests.health.probe import PASSWORD

Servers = Callable[..., RedisServer]


def spec_file(tmp_path: Path, address: str, credentials: RedisCredentials | None, *, tls: bool = False) -> str:
    spec = FleetSpec(regions=[Region(name="lab", clusters=[
        Cluster(name="sessions", team="cache", tls=tls, credentials=credentials, nodes=[Node(address=address)])])],
        teams=[Team(name="cache", channels={"mail": {"kind": "email", "to": ["a@example.com"]}},
                    escalation={"critical": ["mail"]})])
    path = tmp_path / "fleet.json"
    path.write_text(spec.model_dump_json())
    return str(path)


def test_a_clusters_spec_credentials_log_in_where_the_commands_do_not(servers: Servers, tmp_path: Path) -> None:
    server = servers(*HEALTHY_ARGS, password="default-user-pw-41",
                     acl_users={"monitor": f">{PASSWORD} on +@all ~*"})
    login = RedisCredentials(user="monitor", password=SecretRef(env="SESSIONS_REDIS_PASSWORD"))
    spec = spec_file(tmp_path, server.addr, login)
    done = health(spec, "--json", env=environment(SESSIONS_REDIS_PASSWORD=PASSWORD, REDIS_PASSWORD="wrong-one"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)[0]["state"] == "healthy"
    assert PASSWORD not in done.stdout + done.stderr


def test_a_missing_secret_is_a_usage_error_naming_the_cluster_and_field(tmp_path: Path) -> None:
    login = RedisCredentials(user="monitor", password=SecretRef(env="SESSIONS_REDIS_PASSWORD"))
    done = health(spec_file(tmp_path, "127.0.0.1:6390", login), env=environment())
    assert done.returncode == EX_USAGE
    assert "cluster sessions: credentials.password: environment variable SESSIONS_REDIS_PASSWORD is not set" \
        in done.stderr


def test_tls_nodes_are_checked_with_the_tls_files_and_fail_in_the_tls_phase_without_them(
        servers: Servers, tls_files: TlsFiles) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD, tls=tls_files)
    url = f"rediss://127.0.0.1:{server.tls_port}"
    done = health("--target", url, "--json", "--tls-ca-cert-file", str(tls_files.ca_cert),
                  "--tls-client-cert-file", str(tls_files.client_cert),
                  "--tls-client-key-file", str(tls_files.client_key), env=environment(REDIS_PASSWORD=PASSWORD))
    assert done.returncode == 0, done.stdout + done.stderr
    unverified = health("--target", url, "--json", env=environment(REDIS_PASSWORD=PASSWORD))
    assert unverified.returncode == 2
    assert json.loads(unverified.stdout)[0]["reason"].startswith("tls:")


def test_a_client_certificate_needs_its_key_and_alertmanager_needs_a_url() -> None:
    done = health("--target", "rediss://127.0.0.1:6390", "--tls-client-cert-file", "client.crt", env=environment())
    assert done.returncode == EX_USAGE and "must be given together" in done.stderr
    done = health("--target", "redis://127.0.0.1:6390", "--alertmanager", "alertmanager:9093", env=environment())
    assert done.returncode == EX_USAGE and "--alertmanager" in done.stderr


def test_diagnose_logs_in_like_health_over_tls(servers: Servers, tls_files: TlsFiles) -> None:
    server = servers(*HEALTHY_ARGS, password=PASSWORD, tls=tls_files)
    done = subprocess.run(
        [sys.executable, "-m", "cachewatch", "diagnose", f"rediss://127.0.0.1:{server.tls_port}", "--json",
         "--latency-window", "0.2s", "--tls-ca-cert-file", str(tls_files.ca_cert),
         "--tls-client-cert-file", str(tls_files.client_cert), "--tls-client-key-file", str(tls_files.client_key)],
        capture_output=True, text=True, env=environment(REDIS_PASSWORD=PASSWORD), timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
