"""Replication: role, link, each replica's byte lag, and whether the backlog absorbs a short outage.

INFO's replica ``lag`` is seconds since the last ACK (link liveness); the data delay is the offset difference.
"""

from __future__ import annotations

from cachewatch.checks.measures import replicas
from cachewatch.health.diagnose.collect import Evidence
from cachewatch.health.diagnose.model import Finding, Section, table_findings
from cachewatch.health.diagnose.units import size
from cachewatch.health.evaluate import NodeHealth

OUTAGE_SECONDS = 60  # the backlog should hold this long a disconnect's writes


def section(ev: Evidence, health: NodeHealth) -> Section:
    info = ev.snapshot.info
    role = info.get("role", "?")
    findings = table_findings(health.checks, "replication")
    facts: dict[str, object] = {"role": role}
    if role == "slave":
        lines = [f"replica of {info.get('master_host')}:{info.get('master_port')}, link "
                 f"{info.get('master_link_status')}, last I/O {info.get('master_last_io_seconds_ago')} s ago"]
        facts |= {"master_link_status": info.get("master_link_status"),
                  "master_last_io_seconds_ago": info.get("master_last_io_seconds_ago")}
        return Section("replication", findings=tuple(findings), lines=tuple(lines), facts=facts)
    offset = ev.number("master_repl_offset")
    rows = [{"replica": f"{r.get('ip')}:{r.get('port')}", "state": r.get("state"),
             "lag_bytes": max(offset - float(r.get("offset", 0) or 0), 0.0), "ack_lag_seconds": r.get("lag")}
            for r in replicas(ev.snapshot)]
    backlog = ev.number("repl_backlog_size")
    write_rate = ev.rate("master_repl_offset")
    lines = [f"primary with {len(rows)} replica(s); backlog {size(backlog)}; replication stream "
             + (f"{size(write_rate)}/s" if write_rate is not None else "rate unknown")]
    lines += [f"  {r['replica']} {r['state']}: {size(r['lag_bytes'])} behind, last ACK {r['ack_lag_seconds']} s ago"
              for r in rows]
    facts |= {"replicas": rows, "repl_backlog_size": backlog, "stream_bytes_per_second": write_rate}
    if rows and write_rate and backlog < write_rate * OUTAGE_SECONDS:
        findings.append(Finding(
            id="diag.repl.backlog_small", severity="warning", title="The backlog cannot absorb a 1-minute outage",
            seen=f"repl-backlog-size {size(backlog)} < {size(write_rate)}/s × {OUTAGE_SECONDS} s",
            why="A replica reconnecting after a short outage needs a full resync: a fork and a full copy.",
            fix=f"CONFIG SET repl-backlog-size {int(write_rate * OUTAGE_SECONDS * 2)}", value=backlog))
    return Section("replication", findings=tuple(findings), lines=tuple(lines), facts=facts)
