"""Warnings about secret files as they are on this machine when ``cachewatch generate`` runs.

A warning, not an error: the files usually live on the Alertmanager host and are often written after the
config is generated, so a missing file says nothing. One that exists and ends in a newline is a lost page in
waiting: Alertmanager 0.25 sends the SMTP password file's bytes as they are (it trims Slack and PagerDuty files),
so the relay refuses the login and the mail is dropped after its retries. Only the path is named, never content.
"""

from __future__ import annotations

from pathlib import Path

from cachewatch.alert_rules.alertmanager import verbatim_secret_files
from cachewatch.spec import FleetSpec

NEWLINES = (b"\n", b"\r")


def newline_warnings(spec: FleetSpec) -> list[str]:
    """One line per readable secret file that Alertmanager reads verbatim and that ends in a newline."""
    out = []
    for field, path in verbatim_secret_files(spec):
        try:
            content = Path(path).read_bytes()
        except OSError:  # not here (yet), or not readable by this user: nothing to say
            continue
        if content.endswith(NEWLINES):
            out.append(f"warning: {field}: {path} ends with a newline, which Alertmanager 0.25 sends as part of the "
                       f"password, so the login fails and the mail is lost; write it without one: "
                       f"printf %s \"$secret\" > {path}")
    return out
