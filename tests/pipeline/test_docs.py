"""docs/metrics.md and docs/runbooks.md in the repository are what the catalog and the alert table generate."""

from __future__ import annotations

from cachewatch.catalog import CATALOG
from cachewatch.pipeline.metrics_doc import metrics_markdown
from cachewatch.pipeline.runbooks import default_runbooks
from tests.support.paths import ROOT


def test_repository_docs_are_current() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text() == metrics_markdown(), "run: cachewatch docs"
    assert (ROOT / "docs" / "runbooks.md").read_text() == default_runbooks(), "run: cachewatch docs"


def test_every_catalog_family_has_a_row_and_every_alert_a_section() -> None:
    metrics, runbooks = metrics_markdown(), default_runbooks()
    assert all(f"| `{name}` |" in metrics for name in CATALOG)
    assert "\n## RedisDown\n" in runbooks and "```promql\n" in runbooks
