"""The command line: every option explained, redis_exporter's environment honoured, bad settings named."""

from __future__ import annotations

import subprocess
import sys

from cachewatch.exporter.options import build_settings
from tests.support.exporter_process import start_exporter
from tests.support.paths import EXAMPLES, ROOT


def cachewatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cachewatch", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_exporter_help_explains_every_option() -> None:
    out = cachewatch("exporter", "--help")
    assert out.returncode == 0
    for option in ("--listen", "--redis-addr", "--config", "--web-config", "--allow-target", "--allow-any-target",
                   "--password-file", "--scrape-timeout", "--tls-ca-cert-file", "--key-sampling", "REDIS_ADDR",
                   "REDIS_PASSWORD", "REDIS_EXPORTER_WEB_LISTEN_ADDRESS"):
        assert option in out.stdout, option
    usage = out.stdout.split("environment (")[0]
    assert "--redis-password " not in usage and "--redis-password\n" not in usage  # no secret on a command line


def test_redis_exporter_environment_variables_configure_the_exporter() -> None:
    settings = build_settings(None, {}, env={
        "REDIS_ADDR": "redis://cache-1:6380", "REDIS_USER": "monitor", "REDIS_PASSWORD": "pw",
        "REDIS_EXPORTER_WEB_LISTEN_ADDRESS": "0.0.0.0:9999", "REDIS_EXPORTER_CONNECTION_TIMEOUT": "3s",
        "REDIS_EXPORTER_SKIP_TLS_VERIFICATION": "true", "REDIS_EXPORTER_LOG_LEVEL": "WARN",
    })
    assert settings.redis_addr == "redis://cache-1:6380" and settings.redis_user == "monitor"
    assert settings.redis_password_env == "REDIS_PASSWORD"  # a reference, never the value
    assert settings.listen == "0.0.0.0:9999" and settings.connect_timeout == 3.0
    assert settings.tls.insecure_skip_verify and settings.log_level == "warning"


def test_flags_override_the_environment() -> None:
    settings = build_settings(None, {"redis_addr": "redis://b:1"}, env={"REDIS_ADDR": "redis://a:1"})
    assert settings.redis_addr == "redis://b:1"


def test_a_bad_config_file_names_each_field_and_what_is_allowed(tmp_path) -> None:
    config = tmp_path / "exporter.yml"
    config.write_text("scrape_timeout: soon\nlog_level: loud\nkey_sampling: {top_n: 0}\nbogus: 1\n")
    out = cachewatch("exporter", "--config", str(config))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert any("scrape_timeout" in line and "soon" in line for line in lines)
    assert any("log_level" in line and "'debug', 'info', 'warning' or 'error'" in line for line in lines)
    assert any("key_sampling.top_n" in line for line in lines)
    assert any("bogus" in line for line in lines)


def test_env_var_deployment_switches_by_changing_only_the_image(redis_primary) -> None:
    """A redis_exporter deployment configured by environment only works unchanged."""
    exporter = start_exporter(env={"REDIS_ADDR": redis_primary.url})
    try:
        assert exporter.get("/metrics").value("redis_up") == 1
    finally:
        exporter.stop()


def test_demo_with_redis_addr_shows_only_the_exporter_in_front_of_that_redis(redis_primary) -> None:
    """The whole-stack demo (tests/e2e/test_demo_stack.py) starts its own Redis; given one, it only reads it."""
    keys = redis_primary.cli("DBSIZE")
    out = cachewatch("demo", "--redis-addr", redis_primary.url)
    assert out.returncode == 0, out.stderr
    assert "redis_up 1" in out.stdout and "redis_instance_info{" in out.stdout
    assert "Prometheus" not in out.stdout and "fault" not in out.stdout
    assert redis_primary.cli("DBSIZE") == keys  # nothing written into a Redis the demo did not start


def test_generate_check_passes_on_a_fresh_tree_and_fails_with_a_diff_on_a_stale_one(tmp_path) -> None:
    spec, out = str(EXAMPLES["small"]), tmp_path / "out"
    assert cachewatch("generate", spec, "--out", str(out)).returncode == 0
    fresh = cachewatch("generate", spec, "--out", str(out), "--check")
    assert fresh.returncode == 0 and "up to date" in fresh.stdout, fresh.stderr
    rules = out / "prometheus" / "rules" / "checks-network.yml"  # RedisDown: for 10s
    rules.write_text(rules.read_text().replace("for: 10s", "for: 11s", 1))
    stale = cachewatch("generate", spec, "--out", str(out), "--check")
    assert stale.returncode == 1
    assert "-    for: 11s\n" in stale.stdout and "+    for: 10s\n" in stale.stdout
    assert "is not what" in stale.stderr and rules.read_text().count("for: 11s") == 1  # --check writes nothing


def test_a_bad_spec_is_one_line_per_problem_and_exit_2(tmp_path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("regions: [{name: Bad_Name, clusters: []}]\nteams: []\nbogus: 1\n")
    out = cachewatch("generate", str(spec), "--out", str(tmp_path / "out"))
    assert out.returncode == 2 and not (tmp_path / "out").exists()
    lines = out.stderr.strip().splitlines()
    assert any("regions.0.name" in line and "Bad_Name" in line for line in lines), lines
    assert any(line.startswith(f"{spec}: bogus:") for line in lines), lines
    assert "Traceback" not in out.stderr


def test_docs_check_knows_the_repository_docs_are_current() -> None:
    out = cachewatch("docs", "--check", "--out", str(ROOT / "docs"))
    assert out.returncode == 0, out.stderr
