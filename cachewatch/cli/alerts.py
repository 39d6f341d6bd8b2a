"""``cachewatch alerts serve|ls|show|ack|unack|resolve|note|history|report|add-user``.

``serve`` runs the alert lifecycle service; the other commands are clients of its JSON API (``--url``), with the
identity from ``--user`` and a token file (``--token-file`` or ``CACHEWATCH_TOKEN_FILE``; ``CACHEWATCH_TOKEN``
works too). A token is never accepted as a flag value: it would land in shell history and ``ps``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:9095"
CLASSIFICATIONS = ("actionable", "non_actionable", "false_positive", "duplicate", "expected")
EX_FAIL, EX_USAGE = 1, 2
EPILOG = """\
identity: --user (default $CACHEWATCH_USER, else your login) and the token in --token-file, $CACHEWATCH_TOKEN_FILE
or $CACHEWATCH_TOKEN; `cachewatch alerts add-user NAME --users FILE` makes a token and stores its bcrypt hash.
The service decides who may act: members of the alert's team (teams[].members in the spec) and admins.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alerts", help="the alert lifecycle: serve it, or list, ack, resolve and report episodes",
                       description="Episodes of alerts (one firing each), acks as leased Alertmanager silences, "
                                   "escalation, resolution notes, history and analytics.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    verbs = p.add_subparsers(dest="alerts_command", required=True)
    serve = verbs.add_parser("serve", help="run the service (webhook, reconciler, API, console, /metrics)",
                             allow_abbrev=False)
    serve.add_argument("spec", nargs="?", metavar="SPEC", help="fleet spec: teams, members, escalation")
    serve.add_argument("--listen", metavar="HOST:PORT", help="default: the spec's alert_lifecycle.listen")
    serve.add_argument("--alertmanager", action="append", default=[], metavar="URL",
                       help="a member of the Alertmanager cluster (repeatable; default: the spec's links)")
    serve.add_argument("--database", metavar="URL", help="sqlite:///path, postgresql://…, or a file path "
                       "(default: cachewatch-alerts.db)")
    serve.add_argument("--users", metavar="FILE", help="YAML users: {name: bcrypt hash of the user's token}")
    serve.add_argument("--proxy-user-header", metavar="NAME", help="trust this header's user name (behind a "
                       "reverse proxy that sets it, e.g. X-Forwarded-User)")
    serve.add_argument("--webhook-token-file", metavar="FILE", help="bearer token Alertmanager must send")
    serve.add_argument("--session-secret-file", metavar="FILE", help="key that signs console sessions; give the "
                       "same file to every replica behind one address (default: random per process)")
    serve.add_argument("--otlp-logs-endpoint", metavar="URL", help="also send logs over OTLP/HTTP (default: "
                       "$OTEL_EXPORTER_OTLP_LOGS_ENDPOINT; README: Logs over OTLP)")
    serve.set_defaults(func=run_serve)

    def client(name: str, help_: str) -> argparse.ArgumentParser:
        c = verbs.add_parser(name, help=help_, allow_abbrev=False)
        c.add_argument("--url", default=os.environ.get("CACHEWATCH_ALERTS_URL", DEFAULT_URL),
                       help=f"the service (default $CACHEWATCH_ALERTS_URL or {DEFAULT_URL})")
        c.add_argument("--user", default=os.environ.get("CACHEWATCH_USER") or getpass.getuser())
        c.add_argument("--token-file", default=os.environ.get("CACHEWATCH_TOKEN_FILE"), metavar="FILE")
        c.add_argument("--json", action="store_true", help="print the API's JSON")
        return c

    for name, help_ in (("ls", "open episodes"), ("history", "episodes of a time range, closed ones too")):
        c = client(name, help_)
        for field in ("team", "cluster", "alertname", "severity", "state"):
            c.add_argument(f"--{field}")
        c.add_argument("--since", metavar="DURATION", default="7d" if name == "history" else None,
                       help="only episodes that started within DURATION (e.g. 24h)")
        c.add_argument("--limit", type=int, default=100)
        c.set_defaults(func=run_list, open_only=name == "ls")
    show = client("show", "one episode with its timeline")
    show.add_argument("episode")
    show.set_defaults(func=run_show)
    ack = client("ack", "acknowledge: a leased Alertmanager silence under your name")
    ack.add_argument("episode")
    ack.add_argument("--comment", default="")
    ack.set_defaults(func=run_action, action="ack", body=lambda a: {"comment": a.comment})
    unack = client("unack", "take the ack back: the silence is expired, notifications resume")
    unack.add_argument("episode")
    unack.set_defaults(func=run_action, action="unack", body=lambda a: {})
    resolve = client("resolve", "close with notes and a classification (never fakes an endsAt)")
    resolve.add_argument("episode")
    resolve.add_argument("--notes", required=True)
    resolve.add_argument("--classification", required=True, choices=CLASSIFICATIONS)
    resolve.set_defaults(func=run_action, action="resolve",
                         body=lambda a: {"notes": a.notes, "classification": a.classification})
    note = client("note", "add a note to an episode's timeline")
    note.add_argument("episode")
    note.add_argument("text")
    note.set_defaults(func=run_action, action="notes", body=lambda a: {"text": a.text})
    report = client("report", "MTTA, MTTR, time to close, noisiest, flapping, false-positive rate")
    report.add_argument("--since", metavar="DURATION", default="7d")
    report.add_argument("--team")
    report.add_argument("--cluster")
    report.add_argument("--alertname")
    report.set_defaults(func=run_report)
    add = verbs.add_parser("add-user", help="make a token for NAME, store its bcrypt hash in FILE, print it once",
                           allow_abbrev=False)
    add.add_argument("name")
    add.add_argument("--users", required=True, metavar="FILE")
    add.set_defaults(func=run_add_user)


# --- serve ----------------------------------------------------------------------------------------------------
def run_serve(args: argparse.Namespace) -> int:
    from cachewatch.alert_lifecycle.auth import UsersFileError
    from cachewatch.alert_lifecycle.service import ServiceError, serve
    from cachewatch.cli.spec import load
    from cachewatch.log_export import configure

    configure(endpoint=args.otlp_logs_endpoint, service_name="cachewatch-alerts")  # serve() sets logging up
    try:
        spec = load(args.spec) if args.spec else _demo_spec(args.users)
        if spec is None:
            return EX_USAGE
        alertmanagers = args.alertmanager or (spec.links.alertmanager_urls if args.spec else [])
        return serve(spec, listen=args.listen, alertmanagers=alertmanagers, database=args.database,
                     users_file=args.users, proxy_user_header=args.proxy_user_header,
                     webhook_token_file=args.webhook_token_file, session_secret_file=args.session_secret_file)
    except (ServiceError, UsersFileError) as exc:
        print(f"cachewatch alerts serve: {exc}", file=sys.stderr)
        return EX_USAGE


def _demo_spec(users_file: str | None):
    """The try-out spec, with every user of the users file as an admin (so they can act at once)."""
    from cachewatch.alert_lifecycle.auth import load_users
    from cachewatch.spec import FleetSpec

    admins = sorted(load_users(Path(users_file))) if users_file else []
    return FleetSpec.model_validate({**DEMO_SPEC, "alert_lifecycle": {"admins": admins}})


# One team, one local node: what `serve` runs on without a spec (try-out; anyone in the users file is admin).
DEMO_SPEC: dict[str, Any] = {
    "regions": [{"name": "local", "clusters": [{"name": "local", "team": "platform",
                                                "nodes": [{"address": "127.0.0.1:6379"}]}]}],
    "teams": [{"name": "platform", "channels": {"null": {"kind": "webhook", "url": "http://127.0.0.1:9/"}},
               "escalation": {"critical": ["null"]}}],
}


# --- clients --------------------------------------------------------------------------------------------------
class ClientError(Exception):
    pass


def _token() -> str | None:
    path = os.environ.get("CACHEWATCH_TOKEN_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get("CACHEWATCH_TOKEN")


def _call(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    token = Path(args.token_file).read_text().strip() if args.token_file else _token()
    auth = (args.user, token) if token else None
    try:
        response = httpx.request(method, args.url.rstrip("/") + path, auth=auth, timeout=10.0, **kwargs)
    except httpx.HTTPError as exc:
        raise ClientError(f"{args.url}: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 400:
        try:
            reason = response.json().get("error") or response.json().get("detail")
        except ValueError:
            reason = response.text[:200]
        raise ClientError(f"{response.status_code}: {reason}")
    return response.json()


def _guarded(run):
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except ClientError as exc:
            print(f"cachewatch alerts {args.alerts_command}: {exc}", file=sys.stderr)
            return EX_FAIL
        except OSError as exc:
            print(f"cachewatch alerts {args.alerts_command}: {exc}", file=sys.stderr)
            return EX_USAGE
    return wrapper


def _seconds(text: str | None) -> float | None:
    from cachewatch.spec.types import parse_duration

    return parse_duration(text) if text else None


def _age(iso: str | None) -> str:
    from cachewatch.alert_lifecycle.model import parse_time

    at = parse_time(iso)
    if at is None:
        return "-"
    minutes = int((time.time() - at) // 60)
    return f"{minutes // 1440}d{minutes % 1440 // 60}h" if minutes >= 1440 else f"{minutes // 60}h{minutes % 60:02d}m"


def _print_json(value: Any) -> int:
    print(json.dumps(value, indent=2, sort_keys=True))
    return 0


@_guarded
def run_list(args: argparse.Namespace) -> int:
    params = {k: getattr(args, k) for k in ("team", "cluster", "alertname", "severity", "state") if getattr(args, k)}
    since = _seconds(args.since)
    if since:
        params["since"] = time.time() - since
    if args.open_only and "state" not in params:
        params["open"] = "true"
    params["limit"] = args.limit
    episodes = _call(args, "GET", "/api/v1/episodes", params=params)
    if args.json:
        return _print_json(episodes)
    rows = [(e["id"], e["state"], e.get("severity", ""), e.get("team", ""), e.get("cluster", ""), e["alertname"],
             _age(e["starts_at"]), e.get("acked_by") or "") for e in episodes]
    _table(("EPISODE", "STATE", "SEVERITY", "TEAM", "CLUSTER", "ALERT", "AGE", "ACKED BY"), rows)
    return 0


@_guarded
def run_show(args: argparse.Namespace) -> int:
    episode = _call(args, "GET", f"/api/v1/episodes/{args.episode}")
    if args.json:
        return _print_json(episode)
    print(f"{episode['alertname']}  {episode['state']}  episode {episode['id']}")
    for key in ("team", "cluster", "severity", "starts_at", "ends_at", "acked_by", "classification"):
        if episode.get(key):
            print(f"  {key:15} {episode[key]}")
    print("  labels          " + ", ".join(f"{k}={v}" for k, v in sorted(episode["labels"].items())))
    print("timeline:")
    for event in episode.get("events", []):
        detail = {k: v for k, v in (event.get("detail") or {}).items() if v not in (None, "", [], {})}
        who = f" by {event['actor']}" if event.get("actor") else ""
        print(f"  {event['at']}  {event['kind']}{who}  {json.dumps(detail) if detail else ''}".rstrip())
    return 0


@_guarded
def run_action(args: argparse.Namespace) -> int:
    episode = _call(args, "POST", f"/api/v1/episodes/{args.episode}/{args.action}", json=args.body(args))
    if args.json:
        return _print_json(episode)
    print(f"{episode['id']}: {episode['state']}")
    return 0


@_guarded
def run_report(args: argparse.Namespace) -> int:
    now = time.time()
    params = {"from": now - (_seconds(args.since) or 0), "to": now}
    params |= {k: getattr(args, k) for k in ("team", "cluster", "alertname") if getattr(args, k)}
    figures = _call(args, "GET", "/api/v1/analytics", params=params)
    if args.json:
        return _print_json(figures)

    def fmt(seconds: float | None) -> str:
        return "-" if seconds is None else f"{seconds / 60:.1f} min"

    def pct(share: float | None) -> str:
        return "-" if share is None else f"{share:.1%}"

    print(f"episodes {figures['episodes']}  MTTA {fmt(figures['mtta_seconds'])}  MTTR {fmt(figures['mttr_seconds'])}"
          f"  time to close {fmt(figures['time_to_close_seconds'])}")
    print(f"acked {pct(figures['acked_share'])}  false positives {pct(figures['false_positive_rate'])} of classified"
          f"  unclassified {pct(figures['unclassified_share'])}")
    print("noisiest:")
    _table(("ALERT", "CLUSTER", "TEAM", "EPISODES", "NOTIFICATIONS", "FIRING MIN"),
           [(n["alertname"], n["cluster"], n["team"], n["episodes"], n["notifications"], n["firing_minutes"])
            for n in figures["noisiest"]])
    if figures["flapping"]:
        print("flapping:")
        _table(("ALERT", "CLUSTER", "TEAM", "EPISODES"),
               [(f["alertname"], f["cluster"], f["team"], f["episodes"]) for f in figures["flapping"]])
    return 0


def run_add_user(args: argparse.Namespace) -> int:
    import secrets

    import bcrypt
    import yaml

    path = Path(args.users)
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    data = data or {"users": {}}
    token = secrets.token_urlsafe(24)
    data.setdefault("users", {})[args.name] = bcrypt.hashpw(token.encode(), bcrypt.gensalt()).decode()
    path.write_text(yaml.safe_dump(data, sort_keys=True))
    path.chmod(0o600)
    print(token)
    print(f"stored the bcrypt hash for {args.name} in {path}; the token above is not kept anywhere",
          file=sys.stderr)
    return 0


def _table(header: tuple[str, ...], rows: list[tuple]) -> None:
    cells = [tuple(str(c) for c in header), *(tuple(str(c) for c in row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
