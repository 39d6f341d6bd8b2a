"""docs/metrics.md and docs/runbooks.md in the repository are what the catalog and the alert table generate."""

from __future__ import annotations

from cachewatch.catalog import CATALOG
from cachewatch.checks import CHECKS
from cachewatch.pipeline.checks_doc import checks_markdown
from cachewatch.pipeline.metrics_doc import metrics_markdown
from cachewatch.pipeline.runbooks import default_runbooks
from tests.support.paths import ROOT


def test_repository_docs_are_current() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text() == metrics_markdown(), "run: cachewatch docs"
    assert (ROOT / "docs" / "runbooks.md").read_text() == default_runbooks(), "run: cachewatch docs"
    assert (ROOT / "docs" / "checks.md").read_text() == checks_markdown(), "run: cachewatch docs"


def test_every_catalog_family_has_a_row_and_every_alert_a_section() -> None:
    metrics, runbooks = metrics_markdown(), default_runbooks()
    assert all(f"| `{name}` |" in metrics for name in CATALOG)
    assert "\n## RedisDown\n" in runbooks and "```promql\n" in runbooks


def test_every_check_has_a_row() -> None:
    doc = checks_markdown()
    assert all(f"| `{check_id}` |" in doc for check_id in CHECKS)
