"""The service's HTTP surface: Alertmanager's webhook, the JSON API under /api/v1, /metrics, /healthz and the
console (console/), with an OpenAPI description at /openapi.json.

Every refusal is a 4xx with ``{"error": reason}`` and stores nothing: a malformed body (400), a missing or wrong
identity (401), another team's alert (403), an unknown episode (404), a state conflict (409), a body over 1 MiB
(413), a field of the wrong type or value (422); Alertmanager refusing an ack silence is 502, a database that
cannot be reached 503 (Alertmanager retries the webhook). The webhook answers 2xx only after its transaction
committed. Reads are open; acting needs an identity (auth.py). Reasons never echo a token or a header.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from cachewatch import __version__
from cachewatch.alert_lifecycle.actions import MAX_TEXT, ActionError, Forbidden, Invalid
from cachewatch.alert_lifecycle.auth import AuthError
from cachewatch.alert_lifecycle.model import Classification, EpisodeState, format_time
from cachewatch.alert_lifecycle.payload import PayloadError, WebhookPayload, parse_webhook
from cachewatch.alert_lifecycle.service import Service
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.engine import StoreError
from cachewatch.alert_lifecycle.views import episode_json, event_json, parse_when

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20  # bytes: a webhook of 1000 alerts is well under; anything bigger is refused with 413
DEFAULT_WINDOW = 7 * 86400.0  # analytics without ?from=: the last week
CROSS_SITE = ("cross-site", "same-site")  # Sec-Fetch-Site values of a request another site's page made
NON_HTML = ("/api/", "/webhook", "/metrics", "/healthz", "/openapi.json")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                 b"script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
]


# --- wire models (for validation and for the OpenAPI description) ---------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AckBody(_Body):
    comment: str = Field("", max_length=MAX_TEXT, description="kept in the ack event and the silence's comment")


class ResolveBody(_Body):
    notes: str = Field(min_length=1, max_length=MAX_TEXT, description="what was wrong and what was done")
    classification: Classification


class NoteBody(_Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class ErrorOut(BaseModel):
    error: str = Field(description="why the request was refused; nothing was stored")


class EventOut(BaseModel):
    id: int
    kind: str = Field(description="fired, notified, acked, ack_extended, ack_expired, unacked, escalated, "
                      "escalation_notified, resolved, closed, classified, note, reopened, merged")
    at: str = Field(description="RFC 3339 UTC")
    actor: str
    source: str
    detail: dict[str, Any]


class EpisodeOut(BaseModel):
    """One firing of one alert (fingerprint + startsAt). Times are RFC 3339 UTC (``Z``) or null."""

    id: str
    fingerprint: str
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: EpisodeState
    severity: str
    team: str
    cluster: str
    region: str
    starts_at: str
    ends_at: str | None = Field(description="null while the alert fires")
    resolution_inferred: bool = Field(description="the resolve was concluded (the alert timed out or vanished), "
                                      "not reported by Prometheus; left out of MTTR")
    first_notified_at: str | None
    last_notified_at: str | None
    notifications: int
    first_ack_at: str | None
    first_ack_by: str | None
    acked_at: str | None
    acked_by: str | None
    ack_silence_id: str | None = Field(description="the Alertmanager silence that holds the ack (ack_mode silence)")
    ack_silence_ends_at: str | None
    escalated_at: str | None
    closed_at: str | None
    closed_by: str | None
    classification: Classification | None
    close_notes: str | None
    closed_while_firing: bool
    reopened_from: str | None = Field(description="the closed episode this one continues (closed while firing)")
    flapping: bool
    generator_url: str
    last_seen_at: str | None


class EpisodeDetail(EpisodeOut):
    events: list[EventOut] = Field(description="the timeline, oldest first")


class NoisyAlert(BaseModel):
    model_config = ConfigDict(extra="allow")
    alertname: str
    cluster: str
    team: str
    episodes: int
    notifications: int
    firing_minutes: float


class FlappingAlert(BaseModel):
    model_config = ConfigDict(extra="allow")
    alertname: str
    cluster: str
    team: str
    fingerprint: str
    episodes: int


class TrendDay(BaseModel):
    model_config = ConfigDict(extra="allow")
    day: str
    episodes: int
    mtta_seconds: float | None
    mttr_seconds: float | None


class AnalyticsOut(BaseModel):
    """Definitions: docs. MTTA = first ack − first notification; MTTR = endsAt − startsAt without inferred
    resolves; times in seconds, null when nothing to measure."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    from_: str = Field(alias="from", description="the window's start, RFC 3339 (episodes that started in it)")
    to: str
    episodes: int
    mtta_seconds: float | None
    mttr_seconds: float | None
    time_to_close_seconds: float | None
    acked_share: float | None
    false_positive_rate: float | None
    unclassified_share: float | None
    noisiest: list[NoisyAlert]
    flapping: list[FlappingAlert]
    trend: list[TrendDay]


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in (
        (400, "malformed JSON"), (401, "missing or wrong identity"), (403, "not a member of the alert's team"),
        (404, "no such episode"), (409, "the episode's state does not allow it"), (413, "body over 1 MiB"),
        (422, "a field of the wrong type or value"), (502, "Alertmanager refused or is down"))}
StateQuery = Literal["firing", "acked", "resolved", "closed", "open"]
EpisodeRef = Annotated[str, PathParam(max_length=128, description="episode id, or a fingerprint (its newest "
                                                                  "episode)")]
Text = Annotated[str | None, Query(max_length=200)]


# --- helpers -------------------------------------------------------------------------------------------------
def service_of(request: Request) -> Service:
    return request.app.state.service


def actor(request: Request) -> str:
    """The acting user (sync: bcrypt runs in the thread pool, once per token). A browser's request from another
    site may not act: with the proxy header, the proxy would vouch for whoever's browser was lured into it."""
    if request.headers.get("sec-fetch-site") in CROSS_SITE:
        raise Forbidden("requests from another site may not act; use the console or an API client")
    return service_of(request).authenticator.require(request.headers).user


Actor = Annotated[str, Depends(actor)]


def when(text: str | None, name: str, now: float) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_when(text, now)
    except ValueError as exc:
        raise Invalid(f"{name}: {exc}") from None


def detail(service: Service, row: dict) -> JSONResponse:
    with service.store.read() as conn:
        events = repo.events_of(conn, row["id"])
    return JSONResponse(episode_json(row) | {"events": [event_json(e) for e in events]})


def error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


# --- routes --------------------------------------------------------------------------------------------------
router = APIRouter(prefix="/api/v1", responses=ERRORS)


@router.get("/episodes", response_model=list[EpisodeOut], tags=["episodes"],
            summary="Episodes, newest first; X-Total-Count holds the number matching")
def list_episodes(request: Request, state: StateQuery | None = None,
                  open_only: Annotated[bool, Query(alias="open", description="only episodes not closed (as "
                                                                          "state=open)")] = False,
                  team: Text = None, cluster: Text = None,
                  alertname: Text = None, severity: Text = None, region: Text = None, fingerprint: Text = None,
                  since: Annotated[str | None, Query(description="starts at or after: RFC 3339, a date, epoch "
                                                                  "seconds or an age (24h, 7d)")] = None,
                  until: Annotated[str | None, Query(description="starts before")] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                  offset: Annotated[int, Query(ge=0)] = 0) -> JSONResponse:
    service = service_of(request)
    now = service.clock()
    where = repo.EpisodeFilter(state=None if state == "open" else state, open_only=open_only or state == "open",
                               team=team, cluster=cluster, alertname=alertname, severity=severity, region=region,
                               fingerprint=fingerprint, since=when(since, "since", now),
                               until=when(until, "until", now))
    with service.store.read() as conn:
        rows = repo.list_episodes(conn, where, limit, offset)
        total = repo.count_episodes(conn, where)
    return JSONResponse([episode_json(r) for r in rows], headers={"X-Total-Count": str(total)})


@router.get("/episodes/{episode_id}", response_model=EpisodeDetail, tags=["episodes"])
def show_episode(request: Request, episode_id: EpisodeRef) -> JSONResponse:
    service = service_of(request)
    return detail(service, service.lifecycle.find(episode_id))


@router.post("/episodes/{episode_id}/ack", response_model=EpisodeDetail, tags=["actions"],
             summary="Acknowledge: with ack_mode silence, a leased Alertmanager silence (comment ACK!…)")
async def ack(request: Request, episode_id: EpisodeRef, user: Actor, body: AckBody | None = None) -> JSONResponse:
    service = service_of(request)
    row = await service.lifecycle.ack(episode_id, user, body.comment if body else "")
    return await run_in_threadpool(detail, service, row)


@router.post("/episodes/{episode_id}/unack", response_model=EpisodeDetail, tags=["actions"],
             summary="Withdraw an ack: its silence is expired, notifications flow again")
async def unack(request: Request, episode_id: EpisodeRef, user: Actor) -> JSONResponse:
    service = service_of(request)
    row = await service.lifecycle.unack(episode_id, user)
    return await run_in_threadpool(detail, service, row)


@router.post("/episodes/{episode_id}/resolve", response_model=EpisodeDetail, tags=["actions"],
             summary="Close with notes and a classification; never posts an endsAt to Alertmanager")
async def resolve(request: Request, episode_id: EpisodeRef, user: Actor, body: ResolveBody) -> JSONResponse:
    service = service_of(request)
    row = await service.lifecycle.close(episode_id, user, body.notes, str(body.classification))
    return await run_in_threadpool(detail, service, row)


@router.post("/episodes/{episode_id}/notes", response_model=EpisodeDetail, tags=["actions"], status_code=201)
def note(request: Request, episode_id: EpisodeRef, user: Actor, body: NoteBody) -> JSONResponse:
    service = service_of(request)
    response = detail(service, service.lifecycle.note(episode_id, user, body.text))
    response.status_code = 201
    return response


@router.get("/analytics", response_model=AnalyticsOut, tags=["analytics"],
            summary="MTTA, MTTR, time to close, noisiest, flapping, false-positive rate, per-day trend")
def analytics(request: Request, from_: Annotated[str | None, Query(alias="from", description="default: 7d")] = None,
              to: Annotated[str | None, Query(description="default: now")] = None, team: Text = None,
              cluster: Text = None, alertname: Text = None) -> JSONResponse:
    service = service_of(request)
    now = service.clock()
    until = when(to, "to", now) or now
    since = when(from_, "from", now)
    since = until - DEFAULT_WINDOW if since is None else since
    if since >= until:
        raise Invalid("from must be before to")
    report = service.report(since, until, team=team, cluster=cluster, alertname=alertname)
    return JSONResponse(report | {"from": format_time(since), "to": format_time(until)})


def webhook_body() -> dict:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/WebhookPayload"}}}}}


async def webhook(request: Request) -> JSONResponse:
    """Alertmanager's webhook (payload version 4). 200 once every alert is committed; a replay changes nothing."""
    service = service_of(request)
    service.webhook.check(request.headers.get("authorization"))
    observations, record = parse_webhook(await request.body(), service.clock())
    results = await service.ingest(observations, record)
    if any(not obs.firing for obs in observations):
        service.expire_acks_soon()
    return JSONResponse({"status": "ok", "results": dict(results)})


def healthz(request: Request) -> JSONResponse:
    service = service_of(request)
    try:
        with service.store.read() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (sa.exc.SQLAlchemyError, StoreError):
        return error(503, "database unavailable")
    return JSONResponse({"status": "ok"})


def metrics(request: Request) -> Response:
    return Response(service_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


# --- errors --------------------------------------------------------------------------------------------------
def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(NON_HTML) and "text/html" in request.headers.get("accept", "")


def _reply(request: Request, status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    if _wants_html(request):
        from cachewatch.alert_lifecycle.console.pages import error_page  # the console imports this module

        return error_page(request, status, reason)
    return error(status, reason, headers)


def _validation_reason(exc: RequestValidationError) -> tuple[int, str]:
    """FastAPI's validation errors → one line; never the offending input (it may be a token)."""
    problems = exc.errors()
    first = problems[0] if problems else {"loc": ("body",), "msg": "invalid", "type": ""}
    if first.get("type") == "json_invalid":
        return 400, "body: malformed JSON"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body" or len(first["loc"]) == 1) or "body"
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return 422, f"{where}: {first.get('msg', 'invalid')}{more}"


def install_error_handlers(app: FastAPI) -> None:
    async def on_action(request: Request, exc: ActionError) -> Response:
        return _reply(request, exc.status, exc.reason)

    async def on_auth(request: Request, exc: AuthError) -> Response:
        scheme = "Bearer" if request.url.path == "/webhook" else 'Basic realm="cachewatch alerts"'
        return _reply(request, 401, exc.reason, {"WWW-Authenticate": scheme})

    async def on_payload(request: Request, exc: PayloadError) -> Response:
        return error(400, str(exc))

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        return _reply(request, *_validation_reason(exc))

    async def on_http(request: Request, exc: HTTPException) -> Response:
        return _reply(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    async def on_store(request: Request, exc: Exception) -> Response:
        log.error("database error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return _reply(request, 503, "database unavailable; try again")

    for kind, handler in ((ActionError, on_action), (AuthError, on_auth), (PayloadError, on_payload),
                          (RequestValidationError, on_validation), (HTTPException, on_http),
                          (StoreError, on_store), (sa.exc.OperationalError, on_store)):
        app.add_exception_handler(kind, handler)


# --- body limit and headers (ASGI, so an oversized body is never buffered past the limit) ---------------------
class Guard:
    """Refuses bodies over ``limit`` bytes with 413 (declared or streamed) and adds security headers."""

    def __init__(self, app: Any, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send, 413 if declared.isdigit() else 400,
                               f"body over {self.limit} bytes" if declared.isdigit() else "bad Content-Length")
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send, 413, f"body over {self.limit} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, replay, send_with_headers)

    @staticmethod
    async def _refuse(send: Any, status: int, reason: str) -> None:
        response = error(status, reason, {"Connection": "close"})
        await send({"type": "http.response.start", "status": status,
                    "headers": [*response.raw_headers, *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": response.body})


# --- the app -------------------------------------------------------------------------------------------------
DESCRIPTION = """Episodes of Alertmanager alerts (one firing of one alert), their timelines, acknowledgement as a
leased Alertmanager silence, resolve with notes and a classification, and analytics (MTTA, MTTR, noisiest,
flapping, false-positive rate). Reads are open; actions need HTTP Basic `user:token` (a users file of bcrypt
hashes) or the trusted proxy header, and a user who is a member of the alert's team or an admin in the spec.
Every refusal is a 4xx `{"error": reason}` and stores nothing."""


def _openapi(app: FastAPI) -> Any:
    def build() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=DESCRIPTION, routes=app.routes)
            payload = WebhookPayload.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(payload.pop("$defs", {}))
            components["schemas"]["WebhookPayload"] = payload
            components["securitySchemes"] = {"basic": {"type": "http", "scheme": "basic",
                                                       "description": "user:token (the users file)"}}
            for path, methods in schema["paths"].items():
                for operation in methods.values():
                    if path.startswith("/api/v1/episodes/") and path.count("/") == 5:
                        operation["security"] = [{"basic": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    return build


def create_app(service: Service) -> FastAPI:
    """The ASGI app over ``service``; its lifespan runs the reconciler loop."""
    from cachewatch.alert_lifecycle.console import pages

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with service.running():
            yield

    app = FastAPI(title="cachewatch alert lifecycle", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, swagger_ui_oauth2_redirect_url=None)
    app.state.service = service
    install_error_handlers(app)
    app.include_router(router)
    app.add_api_route("/webhook", webhook, methods=["POST"], tags=["intake"], responses=ERRORS,
                      openapi_extra=webhook_body())
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["service"])
    app.add_api_route("/metrics", metrics, methods=["GET"], tags=["service"], include_in_schema=False)
    pages.mount(app)
    app.openapi = _openapi(app)
    app.add_middleware(Guard)
    return app
