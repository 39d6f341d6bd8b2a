"""The README's client-library quick starts run as written (against a real Redis, with a local OTLP receiver)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from cachewatch.local_redis import RedisServer
from tests.support.fake_servers import OtlpHttpReceiver as HttpReceiver
from tests.support.paths import ROOT

README = ROOT / "README.md"


def snippets() -> list[str]:
    section = README.read_text().split("## Client library quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def run(code: str, env_port: int, redis_port: int) -> subprocess.CompletedProcess:
    code = code.replace('host="cache-1"', f'port={redis_port}')
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{env_port}", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)


def test_readme_has_sync_async_and_layers_quick_starts() -> None:
    sync, aio, layers = snippets()[:3]
    assert len(sync.strip().splitlines()) == 5 and len(aio.strip().splitlines()) == 5
    assert "ReadThroughCache" in layers


def test_sync_quick_start_sends_its_span(redis_app: RedisServer) -> None:
    sync = snippets()[0] + "\nfrom opentelemetry import trace\ntrace.get_tracer_provider().shutdown()\n"
    with HttpReceiver() as receiver:
        out = run(sync.replace("sample_ratio=0.01", "sample_ratio=1.0"), receiver.port, redis_app.port)
        assert out.returncode == 0, out.stderr
        receiver.wait_for(1, timeout=10)
        assert [s.name for s in receiver.spans] == ["GET"]


def test_async_quick_start(redis_app: RedisServer) -> None:
    body = snippets()[1].replace('otlp_protocol="grpc", otlp_endpoint="http://jaeger:4317"', "")
    lines = body.strip().splitlines()
    code = "\n".join(lines[:2]) + "\nimport asyncio\nasync def main():\n" + textwrap.indent(
        "\n".join(lines[2:]) + "\nassert value is None\ntracing.shutdown()\n", "    ") + "asyncio.run(main())\n"
    with HttpReceiver() as receiver:
        out = run(code, receiver.port, redis_app.port)
    assert out.returncode == 0, out.stderr


def test_cache_layer_quick_start(redis_app: RedisServer) -> None:
    setup = textwrap.dedent(f"""
        import redis
        from cachewatch.tracing import instrument
        client = instrument(redis.Redis(port={redis_app.port}), cache="users").client
        load_user = lambda key: {{"id": key}}
        keys = [f"user:{{i}}" for i in range(10)]
    """)
    check = "\nassert user == {'id': 'user:42'} and report.loaded + report.already_cached == 10\n"
    code = setup + snippets()[2] + check
    with HttpReceiver() as receiver:
        out = run(code, receiver.port, redis_app.port)
    assert out.returncode == 0, out.stderr
