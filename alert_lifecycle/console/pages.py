"""The console's pages, rendered on the server (Jinja2, autoescaped), and the forms that act through the same
Lifecycle as the API.

Pages: open episodes by team and severity (with ack and resolve forms), one episode with its timeline and its
runbook and dashboard links, the history with filters and paging, analytics with SVG charts, login. Each list
is one page of rows plus one grouped count, never a query per row, so 10,000 open episodes render as fast as
ten. Forms are protected twice against cross-site requests: the session cookie is SameSite=Strict, and every
form carries a token derived from the session (auth.Authenticator.form_token).
"""

from __future__ import annotations

import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import jinja2
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cachewatch.alert_lifecycle.actions import Forbidden, Invalid
from cachewatch.alert_lifecycle.auth import SESSION_COOKIE, AuthError, Identity
from cachewatch.alert_lifecycle.console.charts import Series, bar_chart, line_chart, share_bar
from cachewatch.alert_lifecycle.model import Classification, EpisodeState
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.schema import episodes
from cachewatch.alert_lifecycle.views import duration_text, parse_when
from cachewatch.logs import iso_time

HERE = Path(__file__).parent
OPEN_PAGE, HISTORY_PAGE = 100, 50  # rows per page
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
FP_TARGET = 0.01  # the brief's "less than 1 % false positives"
ANALYTICS_WINDOW = "7d"
MAX_CHART_DAYS = 400  # longer ranges chart only the days that had episodes
DONE = {"acked": "Acknowledged.", "unacked": "Acknowledgement withdrawn.", "resolved": "Closed.",
        "noted": "Note added.", "out": "Logged out."}
LINK_ANNOTATIONS = (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard panel"))

ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True,
                         lstrip_blocks=True)
router = APIRouter(include_in_schema=False)


# --- formatting ----------------------------------------------------------------------------------------------
def _when(at: float | None) -> str:
    return iso_time(at)[:19].replace("T", " ") + "Z" if at is not None else "–"


def _web_link(url: object) -> str | None:
    """Only http(s) URLs become links: an annotation is data from a rule, not markup (no javascript:)."""
    text = str(url or "").strip()
    return text if urllib.parse.urlsplit(text).scheme in ("http", "https") else None


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


ENV.filters.update(when=_when, duration=duration_text, share=_share, web_link=_web_link)
ENV.globals.update(classifications=[c.value for c in Classification], states=[s.value for s in EpisodeState])


def _with(path: str, **params: object) -> str:
    """``path`` with ``params`` set in its query (empty ones dropped)."""
    parts = urllib.parse.urlsplit(path)
    query = dict(urllib.parse.parse_qsl(parts.query)) | {k: str(v) for k, v in params.items() if v not in (None, "")}
    return urllib.parse.urlunsplit(("", "", parts.path, urllib.parse.urlencode(query), ""))


ENV.globals["with_params"] = _with


def _local(target: object, default: str) -> str:
    """A redirect target only within this site: an absolute path, never ``//host`` or a scheme."""
    text = str(target or "")
    parts = urllib.parse.urlsplit(text)
    if not text.startswith("/") or text.startswith(("//", "/\\")) or parts.scheme or parts.netloc:
        return default
    return text


# --- who is looking ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Viewer:
    identity: Identity | None
    form_token: str
    can_log_in: bool
    problem: str | None

    @property
    def user(self) -> str | None:
        return self.identity.user if self.identity else None


def _viewer(request: Request) -> Viewer:
    auth = request.app.state.service.authenticator
    try:
        identity = auth.identify(request.headers, request.cookies)
        problem = None
    except AuthError as exc:
        identity, problem = None, exc.reason
    return Viewer(identity, auth.form_token(identity) if identity else "", auth.can_log_in, problem)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    service = request.app.state.service
    viewer = _viewer(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = ENV.get_template(template).render(viewer=viewer, here=here, policy=service.policy,
                                             done=DONE.get(request.query_params.get("done", "")),
                                             may_act=lambda team: bool(viewer.user) and
                                             service.policy.may_act(viewer.user, team), **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def error_page(request: Request, status: int, reason: str) -> HTMLResponse:
    return render(request, "error.html", status=status, status_code=status, reason=reason)


# --- pages ---------------------------------------------------------------------------------------------------
Text = Annotated[str | None, Query(max_length=200)]
PageNo = Annotated[int, Query(ge=1, le=100_000)]


def _open_counts(conn: sa.Connection) -> dict[str, dict[str, dict[str, int]]]:
    """team → severity → state → open episodes: one grouped query for the summary."""
    query = (sa.select(episodes.c.team, episodes.c.severity, episodes.c.state, sa.func.count())
             .where(episodes.c.state != str(EpisodeState.CLOSED))
             .group_by(episodes.c.team, episodes.c.severity, episodes.c.state))
    out: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for team, severity, state, count in conn.execute(query):
        out[team][severity][state] = count
    return {team: dict(sorted(sevs.items(), key=lambda kv: SEVERITY_RANK.get(kv[0], 9)))
            for team, sevs in sorted(out.items())}


def _grouped(rows: list[dict]) -> list[tuple[str, str, list[dict]]]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["team"], row["severity"])].append(row)
    order = sorted(groups, key=lambda k: (k[0], SEVERITY_RANK.get(k[1], 9), k[1]))
    return [(team, severity, groups[(team, severity)]) for team, severity in order]


@router.get("/", response_class=HTMLResponse)
def open_page(request: Request, team: Text = None, severity: Text = None, page: PageNo = 1) -> HTMLResponse:
    service = request.app.state.service
    where = repo.EpisodeFilter(open_only=True, team=team or None, severity=severity or None)
    with service.store.read() as conn:
        rows = repo.list_episodes(conn, where, OPEN_PAGE, (page - 1) * OPEN_PAGE)
        counts = _open_counts(conn)
    total = sum(n for t, sevs in counts.items() if not team or t == team
                for s, states in sevs.items() if not severity or s == severity for n in states.values())
    return render(request, "open.html", groups=_grouped(rows), counts=counts, total=total, page=page,
                  pages=max(1, -(-total // OPEN_PAGE)), team=team or "", severity=severity or "",
                  now=service.clock())


@router.get("/episodes/{episode_id}", response_class=HTMLResponse)
def episode_page(request: Request, episode_id: Annotated[str, PathParam(max_length=128)]) -> HTMLResponse:
    service = request.app.state.service
    row = service.lifecycle.find(episode_id)
    with service.store.read() as conn:
        events = repo.events_of(conn, row["id"])
    links = [(title, url) for key, title in LINK_ANNOTATIONS if (url := _web_link(row["annotations"].get(key)))]
    return render(request, "episode.html", ep=row, events=events, links=links, now=service.clock())


@router.get("/history", response_class=HTMLResponse)
def history_page(request: Request, team: Text = None, cluster: Text = None, alertname: Text = None,
                 state: Text = None, since: Annotated[str | None, Query(alias="from", max_length=64)] = None,
                 until: Annotated[str | None, Query(alias="to", max_length=64)] = None,
                 page: PageNo = 1) -> HTMLResponse:
    service = request.app.state.service
    now = service.clock()
    if state and state not in (*(s.value for s in EpisodeState), "open"):
        raise Invalid(f"state must be one of {', '.join(s.value for s in EpisodeState)} or open")
    where = repo.EpisodeFilter(team=team or None, cluster=cluster or None, alertname=alertname or None,
                               state=None if state in (None, "", "open") else state, open_only=state == "open",
                               since=_time(since, "from", now), until=_time(until, "to", now))
    with service.store.read() as conn:
        rows = repo.list_episodes(conn, where, HISTORY_PAGE, (page - 1) * HISTORY_PAGE)
        total = repo.count_episodes(conn, where)
    filters = {"team": team or "", "cluster": cluster or "", "alertname": alertname or "", "state": state or "",
               "from": since or "", "to": until or ""}
    return render(request, "history.html", rows=rows, total=total, page=page,
                  pages=max(1, -(-total // HISTORY_PAGE)), filters=filters, now=now)


def _every_day(trend: list[dict], start: float, end: float) -> list[dict]:
    """The report's days, with the quiet days of the range filled in, so a chart's x axis is the range."""
    by_day = {str(d["day"]): d for d in trend}
    first, last = (datetime.fromtimestamp(at, UTC).date() for at in (start, max(start, end - 1e-3)))
    if (last - first).days > MAX_CHART_DAYS:
        return [d | {"day": str(d["day"])} for d in trend]
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [by_day.get(day.isoformat(), {"day": day.isoformat(), "episodes": 0, "mtta_seconds": None,
                                         "mttr_seconds": None}) for day in days]


def _time(text: str | None, name: str, now: float) -> float | None:
    if not text:
        return None
    try:
        return parse_when(text, now)
    except ValueError as exc:
        raise Invalid(f"{name}: {exc}") from None


@router.get("/analytics", response_class=HTMLResponse)
def analytics_page(request: Request, team: Text = None, cluster: Text = None, alertname: Text = None,
                   since: Annotated[str | None, Query(alias="from", max_length=64)] = None,
                   until: Annotated[str | None, Query(alias="to", max_length=64)] = None) -> HTMLResponse:
    service = request.app.state.service
    now = service.clock()
    end = _time(until, "to", now) or now
    start = _time(since or ANALYTICS_WINDOW, "from", now) or end
    if start >= end:
        raise Invalid("from must be before to")
    report = service.report(start, end, team=team or None, cluster=cluster or None, alertname=alertname or None)
    trend = _every_day(report.get("trend", []), start, end)
    days = [d["day"] for d in trend]
    charts = {
        "trend": line_chart(days, [Series("MTTA", [d.get("mtta_seconds") for d in trend], "s-mtta"),
                                   Series("MTTR", [d.get("mttr_seconds") for d in trend], "s-mttr")],
                            "MTTA and MTTR per day"),
        "episodes": line_chart(days, [Series("episodes", [d.get("episodes") for d in trend], "s-count")],
                               "episodes per day", seconds=False),
        "noisiest": bar_chart([(f"{n['alertname']} · {n['cluster'] or '-'}", n["episodes"])
                               for n in report.get("noisiest", [])[:15]], "noisiest alerts by episodes"),
        "fp": share_bar(report.get("false_positive_rate"), FP_TARGET, "false-positive rate"),
    }
    filters = {"team": team or "", "cluster": cluster or "", "alertname": alertname or "",
               "from": since or ANALYTICS_WINDOW, "to": until or ""}
    return render(request, "analytics.html", report=report, charts=charts, filters=filters, start=start, end=end)


# --- login ---------------------------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Annotated[str, Query(max_length=2000)] = "/") -> HTMLResponse:
    return render(request, "login.html", next=_local(next, "/"), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    user, token = str(form.get("user", "")).strip()[:128], str(form.get("token", ""))
    target = _local(form.get("next"), "/")
    auth = request.app.state.service.authenticator
    try:
        cookie = await run_in_threadpool(auth.login, user, token)
    except AuthError as exc:
        return render(request, "login.html", status=401, next=target, error=exc.reason, user=user)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=int(auth.session_ttl), path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    identity, _ = await _form_identity(request)
    request.app.state.service.authenticator.logout(identity)
    response = RedirectResponse("/?done=out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- actions -------------------------------------------------------------------------------------------------
async def _form_identity(request: Request) -> tuple[Identity, Any]:
    """The form's fields and who sent it; 401 without an identity, 403 without this session's form token."""
    form = await request.form()
    auth = request.app.state.service.authenticator
    identity = auth.require(request.headers, request.cookies)
    if not auth.check_form_token(identity, str(form.get("csrf", ""))):
        raise Forbidden("this form is stale or was not sent from this console; reload the page and try again")
    return identity, form


def _back(form: Any, episode_id: str, done: str) -> RedirectResponse:
    target = _local(form.get("next"), f"/episodes/{urllib.parse.quote(episode_id, safe='')}")
    return RedirectResponse(_with(target, done=done), status_code=303)


@router.post("/episodes/{episode_id}/ack")
async def ack_form(request: Request, episode_id: str) -> Response:
    identity, form = await _form_identity(request)
    ep = await request.app.state.service.lifecycle.ack(episode_id, identity.user, str(form.get("comment", "")))
    return _back(form, ep["id"], "acked")


@router.post("/episodes/{episode_id}/unack")
async def unack_form(request: Request, episode_id: str) -> Response:
    identity, form = await _form_identity(request)
    ep = await request.app.state.service.lifecycle.unack(episode_id, identity.user)
    return _back(form, ep["id"], "unacked")


@router.post("/episodes/{episode_id}/resolve")
async def resolve_form(request: Request, episode_id: str) -> Response:
    identity, form = await _form_identity(request)
    ep = await request.app.state.service.lifecycle.close(episode_id, identity.user, str(form.get("notes", "")),
                                                         str(form.get("classification", "")))
    return _back(form, ep["id"], "resolved")


@router.post("/episodes/{episode_id}/note")
async def note_form(request: Request, episode_id: str) -> Response:
    identity, form = await _form_identity(request)
    lifecycle = request.app.state.service.lifecycle
    ep = await run_in_threadpool(lifecycle.note, episode_id, identity.user, str(form.get("text", "")))
    return _back(form, ep["id"], "noted")


def mount(app: FastAPI) -> None:
    """Add the console's pages, forms and static files to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
