"""Security: open access, users without a password, and dangerous commands that application users may run.

``ACL LIST`` is evaluated here the way Redis applies rules: left to right, ``+@all``/``allcommands`` and
``-@all``/``nocommands`` reset, ``+@cat``/``-@cat`` (the command's categories, ``DANGEROUS`` below, as Redis 7
declares them) and ``+cmd``/``-cmd`` (a rule on a parent covers its subcommands) switch one command. Selectors
``( … )`` are not evaluated (they only add permissions; a user relying on them is reported without them).

Application users: every enabled user but ``default`` when other users exist (``default`` is then the operator's);
when ``default`` is the only user, the application uses it, which is reported as info.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cachewatch.checks.measures import nopass_users
from cachewatch.health.diagnose.collect import Evidence
from cachewatch.health.diagnose.model import Finding, Section, table_findings
from cachewatch.health.diagnose.units import refusal
from cachewatch.health.evaluate import NodeHealth

# command → (ACL categories in Redis 7, what it can do in the wrong hands)
DANGEROUS: Mapping[str, tuple[frozenset[str], str]] = {
    "flushall": (frozenset({"keyspace", "write", "slow", "dangerous"}), "deletes every key"),
    "flushdb": (frozenset({"keyspace", "write", "slow", "dangerous"}), "deletes every key of a db"),
    "keys": (frozenset({"keyspace", "read", "slow", "dangerous"}), "walks the whole keyspace in one blocking call"),
    "config|set": (frozenset({"admin", "slow", "dangerous"}), "changes maxmemory, persistence, the data directory"),
    "config|rewrite": (frozenset({"admin", "slow", "dangerous"}), "writes the config file"),
    "debug": (frozenset({"admin", "slow", "dangerous"}), "can stall or crash the server"),
    "shutdown": (frozenset({"admin", "slow", "dangerous"}), "stops the server"),
    "replicaof": (frozenset({"admin", "slow", "dangerous"}), "turns the node into a replica, dropping its data"),
    "slaveof": (frozenset({"admin", "slow", "dangerous"}), "turns the node into a replica, dropping its data"),
    "failover": (frozenset({"admin", "slow", "dangerous"}), "hands the primary role to a replica"),
    "monitor": (frozenset({"admin", "slow", "dangerous"}), "streams every command with its arguments"),
    "module|load": (frozenset({"admin", "slow", "dangerous"}), "loads native code into the server"),
    "save": (frozenset({"admin", "slow", "dangerous"}), "blocks the server while writing a snapshot"),
    "bgsave": (frozenset({"admin", "slow", "dangerous"}), "forks the server"),
    "bgrewriteaof": (frozenset({"admin", "slow", "dangerous"}), "forks the server"),
    "acl|setuser": (frozenset({"admin", "slow", "dangerous"}), "creates users and changes passwords"),
    "client|kill": (frozenset({"admin", "slow", "dangerous", "connection"}), "disconnects other clients"),
    "swapdb": (frozenset({"keyspace", "write", "fast", "dangerous"}), "swaps whole databases"),
    "migrate": (frozenset({"keyspace", "write", "slow", "dangerous"}), "moves keys to another server"),
}
RESET_ALLOW, RESET_DENY = frozenset({"+@all", "allcommands"}), frozenset({"-@all", "nocommands"})


def parse_user(line: str) -> tuple[str, bool, list[str]]:
    """``user NAME on|off rules…`` → (name, enabled, rules outside selectors)."""
    words, rules, depth = line.split(), [], 0
    for word in words[2:]:
        depth += word.count("(")
        if depth == 0:
            rules.append(word)
        depth -= word.count(")")
    return words[1] if len(words) > 1 else "", "on" in rules, rules


def allowed(rules: Sequence[str], command: str, categories: frozenset[str]) -> bool:
    """Whether the rules let the user run ``command`` (``name`` or ``name|sub``)."""
    parent, ok = command.split("|")[0], False
    for rule in rules:
        if rule in RESET_ALLOW or rule in RESET_DENY:
            ok = rule in RESET_ALLOW
        elif rule[:1] in "+-" and len(rule) > 1:
            what = rule[1:].lower()
            if (what[1:] in categories) if what.startswith("@") else what in (command, parent):
                ok = rule[0] == "+"
    return ok


def dangerous_commands(acl_lines: Sequence[str]) -> dict[str, list[str]]:
    """user → the dangerous commands it may run, for every enabled user."""
    out = {}
    for line in acl_lines:
        name, enabled, rules = parse_user(line)
        if enabled:
            out[name] = [cmd for cmd, (cats, _) in DANGEROUS.items() if allowed(rules, cmd, cats)]
    return out


def _dangerous_findings(acl_lines: Sequence[str]) -> list[Finding]:
    by_user = dangerous_commands(acl_lines)
    shared = set(by_user) == {"default"}
    app_users = {u: cmds for u, cmds in by_user.items() if cmds and (shared or u != "default")}
    if not app_users:
        return []
    seen = "; ".join(f"{user}: {', '.join(cmds[:8])}{' …' if len(cmds) > 8 else ''} ({len(cmds)} of "
                     f"{len(DANGEROUS)})" for user, cmds in sorted(app_users.items()))
    if shared:
        return [Finding(
            id="diag.sec.shared_default_user", severity="info", title="Applications and operators share one user",
            seen=f"only the default user exists; {seen}",
            why="Every application connection may FLUSHALL, CONFIG SET or SHUTDOWN.",
            fix="ACL SETUSER app on >PASSWORD ~* +@all -@dangerous (or +@read +@write -@dangerous), and let "
                "applications use it.", value=float(len(by_user["default"])))]
    example = sorted(app_users)[0]
    return [Finding(
        id="diag.sec.dangerous_commands", severity="warning", title="Application users may run dangerous commands",
        seen=seen, why="; ".join(f"{c}: {DANGEROUS[c][1]}" for c in app_users[example][:4]) + " — from any "
                                                                                         "application bug or leaked "
                                                                                         "credential.",
        fix=f"ACL SETUSER {example} -@dangerous (or list the commands the application needs: +@read +@write "
            "-@dangerous); note that +@write alone allows FLUSHALL.",
        value=float(sum(len(c) for c in app_users.values())))]


def section(ev: Evidence, health: NodeHealth) -> Section:
    snap, config = ev.snapshot, ev.config
    findings = table_findings(health.checks, "security")
    unknown = refusal(ev.refused, {"acl": "ACL LIST", "config": "CONFIG GET"})
    users = [parse_user(line) for line in snap.acl_users]
    lines = [f"protected-mode {config.get('protected-mode', '?')}, bind {config.get('bind', '?')!r}, "
             f"tls-port {config.get('tls-port', '?')}",
             "users: " + (", ".join(f"{name} ({'on' if on else 'off'})" for name, on, _ in users) or "unknown")
             + (f"; without password: {', '.join(nopass_users(snap))}" if nopass_users(snap) else "")]
    if "acl" not in ev.refused:
        findings += _dangerous_findings(snap.acl_users)
    facts = {"users": [name for name, _, _ in users], "nopass_users": nopass_users(snap),
             "dangerous_commands": dangerous_commands(snap.acl_users) if "acl" not in ev.refused else None}
    return Section("security", findings=tuple(findings), lines=tuple(lines), facts=facts, unknown=unknown)
