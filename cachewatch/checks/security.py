"""Security checks from CONFIG GET and ACL LIST."""

from __future__ import annotations

from functools import partial

from cachewatch.checks.measures import flag, loopback_only, nopass_users
from cachewatch.checks.model import Category, Check, Snapshot, Thresholds, Tier

SECURITY, CHEAP = Category.SECURITY, Tier.CHEAP
PANEL = "cachewatch-health/security"


def _open_access(snap: Snapshot, prev: Snapshot | None) -> float | None:
    """2 when anyone who reaches the port gets in; 1 when only the loopback does (bind limits it)."""
    if snap.config.get("protected-mode") != "no" or not nopass_users(snap):
        return 0.0
    return 1.0 if loopback_only(snap) else 2.0


row = partial(Check, category=SECURITY, tier=CHEAP, panel=PANEL)  # the fields every row here shares

CHECKS: tuple[Check, ...] = (
    row(id="sec.open_access", unit="level", thresholds=Thresholds(warning=1, critical=2), measure=_open_access,
        needs=frozenset({"config", "acl"}), title="Anyone who reaches the port gets in",
        trigger="protected-mode no and a user that is on with nopass (warning when bind is loopback only)",
        why="No password and no protected mode: any client on the network can read, write and FLUSHALL.",
        fix="ACL SETUSER default on >PASSWORD (or off), and CONFIG SET protected-mode yes."),
    row(id="sec.nopass_user", unit="count", thresholds=Thresholds(critical=1),
        measure=lambda s, p: float(len(nopass_users(s))), needs=frozenset({"acl"}), title="A user needs no password",
        trigger="ACL LIST has a user that is on with nopass",
        why="Any client may authenticate as that user with any password.",
        fix="ACL SETUSER <user> resetpass >PASSWORD (or off)."),
    row(id="sec.debug_command_enabled", unit="bool", thresholds=Thresholds(warning=1),
        measure=lambda s, p: flag(any(s.config.get(name, "no") == "yes" for name in
                ("enable-debug-command", "enable-module-command"))),
        needs=frozenset({"config"}), title="DEBUG or MODULE commands are enabled for remote clients",
        trigger="enable-debug-command or enable-module-command is yes (local is fine)",
        why="DEBUG can crash or stall the server; MODULE LOAD runs arbitrary code.",
        fix="enable-debug-command no (or local) in redis.conf; it cannot be changed at runtime."),
)
