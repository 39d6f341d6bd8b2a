"""The one writer: one header for every format that has comments, one YAML style, and --check's diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cachewatch.artifacts import File, GeneratorError
from cachewatch.pipeline.writer import HEADER, dump_yaml, render, rendered, stale, write

FIRST = HEADER.format(name="prod")


@pytest.mark.parametrize(("path", "marker"), [("a/x.yml", "#"), ("x.yaml", "#"), ("m/alerts.libsonnet", "//")])
def test_every_commentable_file_starts_with_the_one_header(path: str, marker: str) -> None:
    text = render(File(path, "body\n", comment="how to run it\n\nmore"), "prod")
    assert text.splitlines()[:4] == [f"{marker} {FIRST}", f"{marker} how to run it", marker, f"{marker} more"]
    assert text.endswith("body\n")


def test_json_and_markdown_get_no_header_and_json_refuses_a_comment() -> None:
    assert render(File("d/b.json", {"uid": "x", "title": "ü"}), "prod") == '{\n  "uid": "x",\n  "title": "ü"\n}\n'
    assert render(File("docs/r.md", "# Runbooks\n"), "prod") == "# Runbooks\n"
    with pytest.raises(GeneratorError, match="no comments"):
        render(File("d/b.json", {}, comment="x"), "prod")


def test_one_yaml_style_keeps_order_spells_out_shared_objects_and_blocks_multiline_text() -> None:
    shared = {"targets": ["10.0.0.1:6379"]}
    doc = {"z": 1, "a": [shared, shared], "text": "line one\nline two", "expr": "x" * 300, "dot": "·"}
    text = dump_yaml(doc)
    assert list(yaml.safe_load(text)) == ["z", "a", "text", "expr", "dot"]
    assert "&" not in text and "*id" not in text  # no anchors: every entry readable on its own
    assert "text: |-\n  line one\n  line two\n" in text
    assert f"expr: {'x' * 300}\n" in text  # never folded
    assert "dot: ·" in text
    assert yaml.safe_load(text) == doc


def test_a_path_generated_twice_is_a_generator_bug() -> None:
    with pytest.raises(GeneratorError, match=r"a\.yml is generated twice"):
        rendered([File("a.yml", {}), File("a.yml", {})], "prod")


def test_stale_diffs_changed_missing_and_leftover_files(tmp_path: Path) -> None:
    texts = {"p/a.yml": "a: 1\n", "p/b.yml": "b: 1\n"}
    write(tmp_path, texts)
    assert stale(tmp_path, texts) == ""
    (tmp_path / "p" / "a.yml").write_text("a: 2\n")
    (tmp_path / "p" / "b.yml").unlink()
    (tmp_path / "p" / "old.yml").write_text("gone\n")
    diff = stale(tmp_path, texts)
    assert "-a: 2\n+a: 1\n" in diff and "+b: 1\n" in diff
    assert "old.yml: on disk but no longer generated" in diff
    assert "old.yml" not in stale(tmp_path, texts, only_these=True)


def test_json_data_round_trips(tmp_path: Path) -> None:
    [path] = write(tmp_path, rendered([File("d/x.json", {"panels": [{"id": 1}]})], "prod"))
    assert json.loads(path.read_text()) == {"panels": [{"id": 1}]}
