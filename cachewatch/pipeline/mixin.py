"""The rule files → a monitoring mixin (``out/mixin/``) that evaluates to exactly the same rules.

Layout as the monitoring-mixins docs ask: ``config.libsonnet`` (``_config``), ``alerts.libsonnet``
(``prometheusAlerts``), ``rules.libsonnet`` (``prometheusRules``), ``mixin.libsonnet`` joining them. The rule
data is emitted as JSON-in-jsonnet (no hand-written jsonnet to drift from the Python generators); only
``runbook_url`` and ``dashboard_url`` are expressions over ``$._config.runbookBaseUrl`` / ``grafanaUrl``, so
a user can repoint them with ``_config+::`` and, left alone, they evaluate to the rule files' strings.

A group holding both alerts and recording rules is split: its alerts go to ``prometheusAlerts`` and its
records to ``prometheusRules``, both under the group's name (and interval), so each half keeps its identity.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from cachewatch.artifacts import File
from cachewatch.promql import EXPORTER, REDIS, REDIS_JOB
from cachewatch.rulefmt import Links
from cachewatch.spec import FleetSpec

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KEYWORDS = frozenset({"assert", "else", "error", "false", "for", "function", "if", "import", "importstr", "importbin",
                      "in", "local", "null", "tailstrict", "then", "self", "super", "true"})
# annotation → (the _config field it follows, how to read the base URL from Links)
URL_ANNOTATIONS = {"runbook_url": ("runbookBaseUrl", "runbook_base_url"),
                   "dashboard_url": ("grafanaUrl", "grafana_url")}
SECTIONS = {"alerts.libsonnet": ("prometheusAlerts", "alert"), "rules.libsonnet": ("prometheusRules", "record")}


@dataclass(frozen=True)
class Expr:
    """Raw jsonnet where a value must follow ``$._config`` rather than be a literal."""

    text: str


def to_jsonnet(value: object, depth: int = 0) -> str:
    """JSON with jsonnet's readable touches: unquoted field names where legal, 2-space indent, trailing commas."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, Expr):
        return value.text
    if isinstance(value, dict) and value:
        fields = [f"{inner}{_field(k)}: {to_jsonnet(v, depth + 1)}," for k, v in value.items()]
        return "{\n" + "\n".join(fields) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        return "[\n" + "\n".join(f"{inner}{to_jsonnet(v, depth + 1)}," for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


def _field(name: str) -> str:
    return name if IDENTIFIER.match(name) and name not in KEYWORDS else json.dumps(name, ensure_ascii=False)


def _with_config_urls(rule: dict, links: Links) -> dict:
    """``runbook_url``/``dashboard_url`` that start with the spec's base URL become ``$._config.X + rest``."""
    annotations = dict(rule.get("annotations", {}))
    for key, (config_field, links_attr) in URL_ANNOTATIONS.items():
        base, value = getattr(links, links_attr), annotations.get(key)
        if isinstance(value, str) and value.startswith(base):
            annotations[key] = Expr(f"$._config.{config_field} + {json.dumps(value[len(base):], ensure_ascii=False)}")
    return {**rule, "annotations": annotations} if annotations else rule


def split_groups(rule_docs: dict[str, dict], kind: str, links: Links) -> list[dict]:
    """The groups (in file order) restricted to rules of ``kind`` (``alert`` or ``record``); empty ones dropped."""
    out = []
    for doc in rule_docs.values():
        for group in doc.get("groups", []):
            rules = [_with_config_urls(r, links) for r in group["rules"] if kind in r]
            if rules:
                out.append({**{k: v for k, v in group.items() if k != "rules"}, "rules": rules})
    return out


def config(spec: FleetSpec) -> dict:
    """What a user may override with ``_config+::``; thresholds are recorded here but baked into the rules."""
    return {
        "fleet": spec.name,
        "runbookBaseUrl": spec.links.runbook_base_url,
        "grafanaUrl": spec.links.grafana_url,
        "redisSelector": REDIS,
        "exporterSelector": EXPORTER,
        "regionLabel": "region",
        "clusterLabel": "cluster",
        "thresholds": spec.thresholds.model_dump(),
        "clusterThresholds": {c.name: dict(c.thresholds) for _, c in spec.clusters if c.thresholds},
    }


def files(spec: FleetSpec, rule_docs: dict[str, dict], dashboards: dict[str, dict] | None = None) -> list[File]:
    """Every file of the mixin under ``mixin/``; ``dashboards`` (uid → dashboard JSON, as the dashboards part
    renders them) become ``grafanaDashboards`` keyed ``<uid>.json``. The writer adds the header line."""
    links = Links(spec.links.runbook_base_url, spec.links.grafana_url)
    parts = ["config", "alerts", "rules"] + (["dashboards"] if dashboards else [])
    out = {
        "mixin.libsonnet": " + ".join(f"(import '{part}.libsonnet')" for part in parts) + "\n",
        "config.libsonnet": f"{{\n  _config+:: {to_jsonnet(config(spec), 1)},\n}}\n",
    }
    for name, (field, kind) in SECTIONS.items():
        groups = to_jsonnet(split_groups(rule_docs, kind, links), 2)
        out[name] = f"{{\n  {field}+:: {{\n    groups+: {groups},\n  }},\n}}\n"
    if dashboards:
        boards = to_jsonnet({f"{uid}.json": board for uid, board in dashboards.items()}, 1)
        out["dashboards.libsonnet"] = f"{{\n  grafanaDashboards+:: {boards},\n}}\n"
    out["jsonnetfile.json"] = json.dumps({"version": 1, "dependencies": [], "legacyImports": True}, indent=2) + "\n"
    out["README.md"] = README.format(name=spec.name, job=REDIS_JOB)
    return [File(f"mixin/{name}", text) for name, text in out.items()]


README = """\
# cachewatch mixin for the fleet "{name}"

Generated by `cachewatch generate` from the fleet spec; regenerate rather than edit. It follows the
[monitoring-mixins](https://github.com/monitoring-mixins/docs) layout:

| file | holds |
|---|---|
| `config.libsonnet` | `_config`: fleet name, `runbookBaseUrl`, `grafanaUrl`, job selectors, the spec's thresholds |
| `alerts.libsonnet` | `prometheusAlerts.groups`: the alerting rules |
| `rules.libsonnet` | `prometheusRules.groups`: the recording rules |
| `mixin.libsonnet` | all three, merged |

It renders exactly the rules of the generated `prometheus/rules/*.yml`.

## Use it

Vendor it with jsonnet-bundler from wherever you commit this directory, e.g.
`jb install github.com/<org>/<repo>/<path>/mixin@main`, or copy it into your jsonnet tree. Then:

```sh
jsonnet -J vendor -S -e 'std.manifestYamlDoc((import "mixin/mixin.libsonnet").prometheusAlerts)' > alerts.yaml
jsonnet -J vendor -S -e 'std.manifestYamlDoc((import "mixin/mixin.libsonnet").prometheusRules)' > rules.yaml
promtool check rules alerts.yaml rules.yaml
# or: mixtool generate all mixin/mixin.libsonnet
```

Override links without regenerating:

```jsonnet
(import 'mixin/mixin.libsonnet') + {{
  _config+:: {{ runbookBaseUrl: 'https://wiki.example.com/redis-runbooks', grafanaUrl: 'https://grafana.example.com' }},
}}
```

Thresholds and selectors (`job="{job}"`) are baked into the expressions from the spec: change the spec and
regenerate to change them; `_config` records them for your own additions.

## Groups that mix alerts and recording rules

Such a group is split by rule type: its alerts are in `prometheusAlerts`, its records in `prometheusRules`,
both under the same group name. Keep the two in separate rule files (as above, or two `PrometheusRule`
objects): one file with both halves would repeat a group name, which Prometheus rejects. An alert that reads a
record of its own group may then see it one evaluation later. For Kubernetes, the generated
`kubernetes/prometheusrule.yaml` carries the groups unsplit.
"""
