"""The metric catalog is the single source: names are valid, docs are generated from it, the exporter obeys it."""

from __future__ import annotations

import re
import subprocess
import sys

from cachewatch.catalog import CATALOG, MetricType, Source, family
from cachewatch.docgen import metrics_markdown, runbooks_markdown
from cachewatch.exporter.collect import FIELD_FAMILIES
from cachewatch.exporter.exposition import MetricSet
from tests.support.paths import ROOT

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def test_every_family_has_a_valid_name_type_help_and_labels() -> None:
    for name, fam in CATALOG.items():
        assert NAME.match(name) and fam.name == name
        assert isinstance(fam.type, MetricType)
        assert fam.help and not fam.help.endswith(" metric"), f"{name} needs a real help text"
        assert all(LABEL.match(label) and not label.startswith("__") for label in fam.labels), name
        assert len(set(fam.labels)) == len(fam.labels), name


def test_exporter_families_follow_redis_exporter_style_or_explain_why_not() -> None:
    for fam in CATALOG.values():
        if fam.source is Source.EXPORTER:
            assert fam.name.startswith("redis_"), fam.name
        if fam.type is MetricType.COUNTER and not fam.name.endswith("_total"):
            assert fam.compat, f"{fam.name}: counter without _total needs a compat note"


def test_info_fields_map_to_one_family_each() -> None:
    fields = [f.info_field for f in CATALOG.values() if f.info_field]
    assert len(fields) == len(set(fields))
    assert FIELD_FAMILIES["used_memory"].name == "redis_memory_used_bytes"


def test_rendering_an_unknown_family_fails_loudly() -> None:
    out = MetricSet()
    try:
        out.add("redis_not_in_catalog", 1)
    except KeyError as exc:
        assert "not in the cachewatch metric catalog" in str(exc)
    else:
        raise AssertionError("unknown family accepted")
    try:
        family("redis_nope")
    except KeyError as exc:
        assert "redis_nope" in str(exc)


def test_docs_metrics_and_runbooks_are_generated() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text() == metrics_markdown(), "run: cachewatch docs"
    assert (ROOT / "docs" / "runbooks.md").read_text() == runbooks_markdown(), "run: cachewatch docs"
    check = subprocess.run([sys.executable, "-m", "cachewatch", "docs", "--check", "--out",
                            str(ROOT / "docs" / "metrics.md")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
