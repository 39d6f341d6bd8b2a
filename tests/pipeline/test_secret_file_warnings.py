"""`cachewatch generate` and `spec check` warn about an SMTP password file that ends in a newline (Alertmanager
0.25 sends it as part of the password), name the field, the file and the fix, never the secret, and still
succeed: the file may be rewritten before Alertmanager reads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

SECRET = "smtp-secret-5d2e"


def cachewatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cachewatch", *args], capture_output=True, text=True, timeout=120)


def spec_with_password_files(tmp_path: Path) -> Path:
    """Three mail channels: a password file with a trailing newline, one without, one not written yet."""
    files = {"newline": tmp_path / "pw-newline", "clean": tmp_path / "pw-clean", "later": tmp_path / "pw-later"}
    files["newline"].write_text(SECRET + "\n")
    files["clean"].write_text(SECRET)
    channels = {name: {"kind": "email", "to": ["a@example.com"], "auth_username": "alerts",
                       "auth_password": {"file": str(path)}} for name, path in files.items()}
    spec = {"regions": [{"name": "local", "clusters": [{"name": "cache", "team": "ops",
                                                        "nodes": [{"address": "127.0.0.1:6379"}]}]}],
            "teams": [{"name": "ops", "channels": channels, "escalation": {"critical": list(channels)}}]}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_password_file_ending_in_a_newline_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    spec = spec_with_password_files(tmp_path)
    warning = (f"warning: teams.0.channels.newline.auth_password: {tmp_path / 'pw-newline'} ends with a newline, "
               "which Alertmanager 0.25 sends as part of the password, so the login fails and the mail is lost; "
               f"write it without one: printf %s \"$secret\" > {tmp_path / 'pw-newline'}")
    for args in (["generate", str(spec), "--out", str(tmp_path / "out")], ["spec", "check", str(spec)]):
        out = cachewatch(*args)
        assert out.returncode == 0, out.stderr
        assert out.stderr.splitlines() == [warning], out.stderr  # the clean and the missing file say nothing
        assert SECRET not in out.stdout + out.stderr
    assert (tmp_path / "out" / "alertmanager" / "alertmanager.yml").exists()
