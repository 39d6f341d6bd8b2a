"""The metric catalog is the single source: names are valid, docs are generated from it, the exporter obeys it."""

from __future__ import annotations

import re
from typing import get_args

from cachewatch.alert_rules import alerts, business, global_rules, node_records, slo
from cachewatch.catalog import CATALOG, MetricType, Source, family
from cachewatch.exporter.collect import FIELD_FAMILIES
from cachewatch.exporter.exposition import MetricSet
from cachewatch.rulefmt import Record
from cachewatch.spec import SLO, FleetSpec, load_spec
from tests.support.paths import EXAMPLES, ROOT

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
CATALOG_DIR = ROOT / "cachewatch" / "catalog"
RULE_SOURCES = (alerts.groups, slo.groups, business.groups, node_records.groups)


def test_every_family_has_a_valid_name_type_help_and_labels() -> None:
    for name, fam in CATALOG.items():
        assert NAME.match(name) and fam.name == name
        assert isinstance(fam.type, MetricType)
        assert fam.help and not fam.help.endswith(" metric"), f"{name} needs a real help text"
        assert all(LABEL.match(label) and not label.startswith("__") for label in fam.labels), name
        assert len(set(fam.labels)) == len(fam.labels), name


def test_every_family_is_spelled_in_full_in_the_catalog_sources() -> None:
    """Grepping a metric's name under cachewatch/catalog finds its row: no prefix added in code, no name built
    by a loop or a format string."""
    sources = "\n".join(path.read_text() for path in sorted(CATALOG_DIR.rglob("*.py")))
    missing = [name for name in CATALOG if f'"{name}"' not in sources]
    assert not missing, f"{len(missing)} families not spelled in full under cachewatch/catalog: {missing[:10]}"


def _every_slo_window(spec: FleetSpec) -> FleetSpec:
    """The spec with one SLO per window the model allows: the examples need not use each of them."""
    windows = get_args(SLO.model_fields["window"].annotation)
    slos = [SLO(name=f"window-{w}", kind="availability", objective=99.9, window=w) for w in windows]
    return FleetSpec.model_validate({**spec.model_dump(), "slos": [s.model_dump() for s in slos]})


def _recorded(spec: FleetSpec) -> set[str]:
    sources = (*RULE_SOURCES, global_rules.groups) if spec.scale else RULE_SOURCES
    return {rule.record for source in sources for group in source(spec) for rule in group.rules
            if isinstance(rule, Record)}


def _scale_mode_with_prices() -> FleetSpec:
    """examples/regions.py (scale mode: the fleet roll-ups) with prices, so the cost roll-up is written too."""
    spec = load_spec(ROOT / "examples" / "regions.py")
    return FleetSpec.model_validate({**spec.model_dump(), "business": {"cost_per_gb_hour": 0.01}})


def test_every_recording_family_is_written_by_a_generated_rule() -> None:
    specs = [load_spec(path) for path in EXAMPLES.values()]
    written = set().union(*(_recorded(spec) for spec in [*specs, _every_slo_window(specs[0]),
                                                          _every_slo_window(_scale_mode_with_prices())]))
    declared = {name for name, fam in CATALOG.items() if fam.source is Source.RECORDING}
    assert declared - written == set(), "documented in the catalog, but no rule writes them"
    assert written - declared == set(), "written by a rule, but missing from the catalog"


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
