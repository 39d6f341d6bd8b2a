"""One regional replica for real: Debian's Prometheus 2.42 runs the generated regional config (its external labels,
alert relabelling and remote-write section) against Debian's VictoriaMetrics started with the generated flags, and
an HTTP endpoint standing in for Alertmanager. The replica label is set from the environment, reaches the series
Prometheus exposes, and is gone from the alerts it sends and from the samples the store receives; the local-only
families never reach the store.

Not the multi-process end-to-end (two regions x an HA pair x the store, vmalert, an Alertmanager cluster): that one
lives in tests/e2e."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cachewatch.local_redis import free_port, require_binary
from cachewatch.pipeline import scale_regional
from cachewatch.pipeline.build import build
from cachewatch.pipeline.writer import write
from cachewatch.spec import load_spec
from tests.support.prometheus_process import running_prometheus
from tests.support.recording_http import RecordingEndpoint, Request

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
REPLICA = "1"


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@contextlib.contextmanager
def victoria_metrics(args: list[str], tmp: Path) -> Iterator[str]:
    """VictoriaMetrics with the generated args, its data and port moved under ``tmp``; yields its base URL."""
    port = free_port()
    moved = {"-storageDataPath": str(tmp / "vm-data"), "-httpListenAddr": f"127.0.0.1:{port}"}
    args = [f"{a.split('=', 1)[0]}={moved[a.split('=', 1)[0]]}" if a.split("=", 1)[0] in moved else a for a in args]
    binary = require_binary("victoria-metrics")  # apt-get install -y victoria-metrics
    with (tmp / "vm.log").open("w") as log:
        proc = subprocess.Popen([binary, *args], stdout=log, stderr=subprocess.STDOUT)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp / "vm.log").read_text()[-2000:]
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=1):
                break
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def series(store: str, match: str) -> list[dict]:
    query = urllib.parse.urlencode({"match[]": match, "start": int(time.time()) - 600})
    return get_json(f"{store}/api/v1/series?{query}")["data"]  # type: ignore[index]


def wait_for_series(store: str, match: str, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = series(store, match)
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no {match} in the store after {timeout}s")


def watchdog_posts(requests: list[Request]) -> list[dict]:
    return [alert for r in requests if r.path == "/api/v2/alerts" and isinstance(r.body, list) for alert in r.body
            if alert["labels"].get("alertname") == "CachewatchWatchdog"]


def test_a_regional_replica_labels_its_series_and_sends_replica_free_alerts_and_samples(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_spec(ROOT / "examples" / "regions.py")
    out = tmp_path / "out"
    write(out, build(spec).texts())
    vm_args = yaml.safe_load((out / "global/victoriametrics/flags.yml").read_text())["victoria-metrics"]
    config = yaml.safe_load((out / scale_regional.path("eu-west")).read_text())

    with victoria_metrics(vm_args, tmp_path) as store, RecordingEndpoint() as alertmanager:
        # The generated file, with fast intervals, the Watchdog as its only rule, the store scraped as its only
        # target (its Go runtime families must stay local), and the store and Alertmanager on this machine.
        config["global"].update({"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"})
        config["rule_files"] = [str(out / "prometheus/rules/watchdog.yml")]
        config["scrape_configs"] = [{"job_name": "store", "static_configs": [{"targets": [store.split("//")[1]]}]}]
        config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]
        (remote,) = config["remote_write"]
        remote["url"] = f"{store}/api/v1/write"
        remote["queue_config"]["batch_send_deadline"] = "1s"
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        monkeypatch.setenv(scale_regional.REPLICA_ENV, REPLICA)

        # A resend delay of 1s: an alert that fires before Alertmanager discovery is dropped and sent again
        # only after the delay (1m by default).
        flags = [*scale_regional.run_flags(spec), "--rules.alert.resend-delay=1s"]
        with running_prometheus(tmp_path / "prometheus.yml", tmp_path, flags) as port:
            posts = alertmanager.wait_for(lambda rs: bool(watchdog_posts(rs)), 30, "the Watchdog from Prometheus")
            labels = watchdog_posts(posts)[0]["labels"]
            assert labels["region"] == "eu-west" and labels["fleet"] == "regions"
            assert "replica" not in labels

            federated = urllib.request.urlopen(f"http://127.0.0.1:{port}/federate?match[]=up", timeout=5).read()
            assert f'replica="{REPLICA}"'.encode() in federated  # set from the environment, dropped on the way out

            (up,) = wait_for_series(store, "up")
            assert up == {"__name__": "up", "job": "store", "instance": store.split("//")[1], "fleet": "regions",
                          "region": "eu-west"}
            assert wait_for_series(store, '{__name__=~"vm_.*"}')  # the store's own families arrive
            assert series(store, '{__name__=~"go_.*"}') == []  # its Go runtime stays in the region
