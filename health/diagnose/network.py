"""Network: how long connecting takes (TCP, TLS, AUTH, a PING), connection churn, clients against maxclients."""

from __future__ import annotations

from cachewatch.health.diagnose.collect import Evidence
from cachewatch.health.diagnose.model import Finding, Section, table_findings
from cachewatch.health.diagnose.units import count
from cachewatch.health.evaluate import NodeHealth

CHURN_PER_SECOND = 1000 / 60  # AWS NewConnections: > 1000 per minute sustained is a connection storm
MANY_CLIENTS = 100  # RedisInsight's bigAmountOfConnectedClients


def section(ev: Evidence, health: NodeHealth) -> Section:
    timings = ev.timings
    phases = " + ".join(f"{name} {timings[name] * 1000:.2f} ms" for name in ("tcp", "tls", "auth", "ping")
                        if name in timings)
    churn = ev.rate("total_connections_received")
    clients, maxclients = ev.number("connected_clients"), ev.number("maxclients")
    lines = [f"connect: {phases}",
             f"clients {count(clients)} of maxclients {count(maxclients)}, "
             f"blocked {count(ev.number('blocked_clients'))}"
             f", rejected connections {count(ev.number('rejected_connections'))} since start",
             "new connections: " + (f"{churn:.1f}/s over {ev.window:.1f} s" if churn is not None else "unknown")]
    facts = {"timings_seconds": dict(timings), "connections_per_second": churn, "connected_clients": clients,
             "maxclients": maxclients}
    findings = table_findings(health.checks, "network")
    if churn is not None and churn >= CHURN_PER_SECOND:
        findings.append(Finding(
            id="diag.net.connection_churn", severity="warning", title="Clients open connections at a high rate",
            seen=f"{churn:.0f} new connections/s over {ev.window:.1f} s (≥ {CHURN_PER_SECOND * 60:.0f}/min)",
            why="Each connect costs the event loop an accept, a TLS handshake and AUTH: a client without a pool.",
            fix="Use a connection pool in the application (one per process), and long-lived connections.",
            value=churn))
    if clients > MANY_CLIENTS:
        findings.append(Finding(
            id="diag.net.many_clients", severity="info", title="Many clients are connected",
            seen=f"{count(clients)} connected clients (> {MANY_CLIENTS})",
            why="Each connection costs memory (buffers) and, opened per request, latency.",
            fix="Check pool sizes × application instances; CLIENT LIST shows who holds them.", value=clients))
    return Section("network", findings=tuple(findings), lines=tuple(lines), facts=facts)
