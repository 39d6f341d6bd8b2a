"""The rule files → one ``PrometheusRule`` for the Prometheus Operator (kube-prometheus style).

The operator writes a PrometheusRule into a single rule file, so every group of every rule file lands in
one namespace of group names: a name used twice would be rejected there, and is rejected here first.
"""

from __future__ import annotations

from collections import Counter

from cachewatch.artifacts import File, GeneratorError
from cachewatch.spec import FleetSpec

API_VERSION = "monitoring.coreos.com/v1"
# kube-prometheus' Prometheus selects rules by these labels; app.kubernetes.io/* say who made the object.
SELECTOR_LABELS = {"prometheus": "k8s", "role": "alert-rules"}


def groups_of(rule_docs: dict[str, dict]) -> list[dict]:
    """The groups of every rule file, in file order; fails on a group name used twice."""
    groups = [group for doc in rule_docs.values() for group in doc.get("groups", [])]
    repeated = sorted(name for name, count in Counter(g["name"] for g in groups).items() if count > 1)
    if repeated:
        raise GeneratorError(f"rule group names repeat across rule files: {', '.join(repeated)}")
    return groups


def prometheus_rule(spec: FleetSpec, rule_docs: dict[str, dict]) -> dict:
    """``rule_docs`` maps a rule file name to the document ``render_rule_file`` returned for it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "PrometheusRule",
        "metadata": {
            "name": f"cachewatch-{spec.name}",
            "labels": {
                "app.kubernetes.io/name": "cachewatch",
                "app.kubernetes.io/instance": spec.name,
                "app.kubernetes.io/part-of": "cachewatch",
                "app.kubernetes.io/component": "alert-rules",
                **SELECTOR_LABELS,
            },
        },
        "spec": {"groups": groups_of(rule_docs)},
    }


def files(spec: FleetSpec, rule_docs: dict[str, dict]) -> list[File]:
    return [File("kubernetes/prometheusrule.yaml", prometheus_rule(spec, rule_docs),
                 comment="kubectl apply -n <namespace of your Prometheus> -f prometheusrule.yaml")]
