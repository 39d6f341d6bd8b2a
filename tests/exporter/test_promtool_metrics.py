"""`promtool check metrics` on our output: clean, except names kept for redis_exporter compatibility."""

from __future__ import annotations

import subprocess

from cachewatch.catalog import CATALOG, Source
from cachewatch.local_redis import require_binary
from tests.support.exporter_process import start_exporter


def promtool_warnings(text: str) -> list[tuple[str, str]]:
    promtool = require_binary("promtool")  # apt-get install -y prometheus
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    lines = (out.stdout + out.stderr).splitlines()
    return [tuple(line.split(" ", 1)) for line in lines if line.strip()]  # type: ignore[misc]


def test_every_promtool_warning_is_a_documented_compatibility_choice(redis_primary, redis_replica,
                                                                     redis_cluster) -> None:
    for url in (redis_primary.url, redis_replica.url, redis_cluster.nodes[0].url):
        with start_exporter("--redis-addr", url) as exporter:
            exporter.get("/metrics")
            body = exporter.get("/metrics").body
        undocumented = [(name, why) for name, why in promtool_warnings(body)
                        if name not in CATALOG or not CATALOG[name].compat]
        assert not undocumented, f"promtool warnings without a compat note in the catalog: {undocumented}"


def test_families_without_compat_notes_pass_promtool() -> None:
    """A synthetic exposition of every exposed family (exporter, client) without a compat note is lint-clean.

    Recording-rule outputs (``level:metric:ops``, colons by convention) and Prometheus' own series are not exposed.
    """
    from cachewatch.exporter.exposition import MetricSet

    out = MetricSet()
    for name, fam in CATALOG.items():
        if fam.compat or fam.source in (Source.RECORDING, Source.PROMETHEUS):
            continue
        label_text = "{" + ",".join(f'{label}="x"' for label in fam.labels) + "}" if fam.labels else ""
        if fam.type in ("histogram", "summary"):
            out.add(name, 1, label_text, "_sum")
            out.add(name, 1, label_text, "_count")
        else:
            out.add(name, 1, label_text)
    assert promtool_warnings(out.render()) == []
