"""The test helper that runs the exporter as a process leaves nothing behind: no log file, no process."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.support.exporter_process import start_exporter


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temp directory, as the helper sees it, made private to this test."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_stopping_deletes_the_log_file_and_keeps_its_text(temp_dir: Path) -> None:
    with start_exporter() as exporter:
        assert [p.name for p in temp_dir.iterdir()] == [exporter.log_path.name]
    assert exporter.proc.poll() is not None and list(temp_dir.iterdir()) == []
    assert '"msg": "exporter listening"' in exporter.logs()
    exporter.stop()  # again: harmless


def test_an_exporter_that_fails_to_start_leaves_nothing(temp_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="process exited with 2"):
        start_exporter("--no-such-flag")
    assert list(temp_dir.iterdir()) == []
