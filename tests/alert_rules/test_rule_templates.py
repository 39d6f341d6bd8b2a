"""The annotation renderer: each template construct our alerts use, expanded exactly as Prometheus does.

The expected texts below are pinned twice: against ``render_template`` and against promtool itself, so a
promtool test built from a derived description can only fail when the alert, not the renderer, is wrong.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from cachewatch.local_redis import require_binary
from cachewatch.pipeline.writer import dump_yaml
from cachewatch.rulefmt import render_template

LABELS = {"instance": "10.0.0.1:6379", "cluster": "c1"}
# (template, $value, what Prometheus prints)
CASES: list[tuple[str, float | None, str]] = [
    ("{{ $labels.instance }} of {{ $labels.cluster }}", None, "10.0.0.1:6379 of c1"),
    ("[{{ $labels.absent }}]", None, "[]"),  # a missing label prints nothing
    ("{{$labels.instance}}", None, "10.0.0.1:6379"),
    ("{{ $value }}", 100, "100"),
    ("{{ $value }}", 0.5, "0.5"),
    ("{{ $value }}", -3.5, "-3.5"),
    ("{{ $value }}", 123456.7, "123456.7"),
    ("{{ $value }}", 1e6, "1e+06"),  # Go's %v switches to an exponent at 1e6, not 1e16
    ("{{ $value }}", 1234567, "1.234567e+06"),
    ("{{ $value }}", 0.0001, "0.0001"),
    ("{{ $value }}", 1.5e-5, "1.5e-05"),
    ("{{ $value }}", math.nan, "NaN"),
    ("{{ $value }}", math.inf, "+Inf"),
    ('{{ $value | printf "%.2f" }}s', 2.675, "2.67s"),  # 2.675 is 2.67499… in binary
    ('{{ $value | printf "%.0f" }}', 2.5, "2"),  # half to even
    ('{{ $value | printf "%.1f" }}', 0.25, "0.2"),
    ('{{$value|printf "%.3f"}}', 1 / 3, "0.333"),
    ('{{ $value | printf "%.1f" }}', -math.inf, "-Inf"),
    ("{{ $value | humanizePercentage }}", 0.925, "92.5%"),
    ("{{ $value | humanizePercentage }}", 1 / 3, "33.33%"),
    ("{{ $value | humanizePercentage }}", 0.92555, "92.55%"),
    ("{{ $value | humanizePercentage }}", 1.5e-7, "1.5e-05%"),
    ("{{ $value | humanize1024 }}B", 33554432, "32MiB"),
    ("{{ $value | humanize1024 }}B", 1536, "1.5kiB"),  # lower-case k, as Prometheus spells it
    ("{{ $value | humanize1024 }}B", 1023, "1023B"),
    ("{{ $value | humanize1024 }}B", 0.5, "0.5B"),
    ("{{ $value | humanize1024 }}B", 3 << 40, "3TiB"),
]


def spelled(value: float | None) -> str:
    """A value in promtool's series notation."""
    if value is None:
        return "1"
    if math.isnan(value):
        return "NaN"
    return {math.inf: "Inf", -math.inf: "-Inf"}.get(value, repr(float(value)))


@pytest.mark.parametrize(("template", "value", "text"), CASES)
def test_each_construct_renders_as_prometheus_prints_it(template: str, value: float | None, text: str) -> None:
    assert render_template(template, LABELS, value) == text


def test_promtool_renders_every_case_the_same(tmp_path: Path) -> None:
    rules = [{"alert": f"Case{i}", "expr": f'case{{i="{i}"}}', "annotations": {"description": template}}
             for i, (template, _, _) in enumerate(CASES)]
    series = [{"series": f'case{{i="{i}", instance="{LABELS["instance"]}", cluster="{LABELS["cluster"]}"}}',
               "values": spelled(value)} for i, (_, value, _) in enumerate(CASES)]
    checks = [{"eval_time": "0m", "alertname": f"Case{i}", "exp_alerts": [
        {"exp_labels": {"i": str(i), **LABELS}, "exp_annotations": {"description": text}}]}
        for i, (_, _, text) in enumerate(CASES)]
    (tmp_path / "cases.yml").write_text(dump_yaml({"groups": [{"name": "cases", "rules": rules}]}))
    (tmp_path / "test.yml").write_text(dump_yaml({
        "rule_files": ["cases.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": checks}]}))
    run = subprocess.run([require_binary("promtool"), "test", "rules", "test.yml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(("template", "value", "error"), [
    ("{{ $value }} slots", None, "must state the expected value"),
    ("{{ $value | humanize }}", 1.0, "unsupported template function 'humanize'"),
    ('{{ $value | printf "%d" }}', 1.0, "only"),
    ('{{ $labels.instance | printf "%s" }}', None, "unsupported template action"),
    ("{{ .Labels.instance }}", None, "unsupported template action"),
    ("{{- $value -}}", 1.0, "unsupported template action"),
])
def test_what_it_cannot_render_is_refused_not_guessed(template: str, value: float | None, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        render_template(template, LABELS, value)
