"""The running service, assembled: store, policy, intake, actions, metrics, identities, Alertmanager client and
reconciler, built once from the spec and the command line, and served by uvicorn (``cachewatch alerts serve``
calls ``serve``).

The reconciler's poll loop runs in the app's lifespan, so it starts and stops with the HTTP server. A webhook
that carries a resolve asks for the ack silences of resolved episodes to be expired at once (not at the next
poll), so a recurrence pages; those requests are coalesced into one run at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cachewatch.alert_lifecycle import analytics
from cachewatch.alert_lifecycle.actions import Lifecycle
from cachewatch.alert_lifecycle.alertmanager_api import AlertmanagerAPI
from cachewatch.alert_lifecycle.auth import (
    Authenticator,
    UsersFileError,
    WebhookGuard,
    read_secret_file,
    read_secret_ref,
)
from cachewatch.alert_lifecycle.intake import Intake, IntakeSettings
from cachewatch.alert_lifecycle.metrics import LifecycleMetrics
from cachewatch.alert_lifecycle.model import Observation
from cachewatch.alert_lifecycle.policy import Policy
from cachewatch.alert_lifecycle.reconciler import Reconciler
from cachewatch.alert_lifecycle.store.engine import Store, StoreError, open_store
from cachewatch.logs import setup_logging
from cachewatch.spec import FleetSpec

log = logging.getLogger(__name__)
STOP_TIMEOUT = 10.0  # seconds the reconciler gets to finish its round at shutdown
WRITERS = 4  # webhook writer threads on PostgreSQL
GROUP_MAX = 200  # webhook posts committed together at most
T = TypeVar("T")


class ServiceError(Exception):
    """The service cannot start (users file, token file, database, Alertmanager URLs); the text names the cause
    and holds no secret."""


@dataclass
class Service:
    """Everything a request handler needs; ``reconciler`` and ``alertmanager`` are None when not configured."""

    store: Store
    policy: Policy
    intake: Intake
    lifecycle: Lifecycle
    metrics: LifecycleMetrics
    authenticator: Authenticator
    webhook: WebhookGuard = field(default_factory=WebhookGuard)
    alertmanager: AlertmanagerAPI | None = None
    reconciler: Reconciler | None = None
    clock: Callable[[], float] = time.time
    _writer: ThreadPoolExecutor | None = field(default=None, repr=False)
    _expiring: asyncio.Task | None = field(default=None, repr=False)
    _again: bool = field(default=False, repr=False)
    _pending: list[tuple[list[Observation], dict, asyncio.Future]] = field(default_factory=list, repr=False)
    _draining: asyncio.Task | None = field(default=None, repr=False)

    @classmethod
    def build(cls, spec: FleetSpec, database: str | None = None, alertmanagers: Sequence[str] = (),
              users_file: Path | None = None, proxy_user_header: str | None = None,
              webhook_token_file: Path | None = None, session_secret_file: Path | None = None,
              reconcile: bool = True, environ: Mapping[str, str] = os.environ) -> Service:
        """Open (and migrate) the store and wire every component. ``reconcile=False`` leaves the poll loop out
        (tests, or a replica that only serves reads). Raises ServiceError, naming the file or database."""
        policy = Policy.from_spec(spec)
        try:
            authenticator = Authenticator.build(policy.users, users_file, proxy_user_header, session_secret_file)
            token = None
            if webhook_token_file is not None:
                token = read_secret_file(webhook_token_file, "webhook token file")
            elif spec.alert_lifecycle.webhook_token is not None:
                token = read_secret_ref(spec.alert_lifecycle.webhook_token, "alert_lifecycle.webhook_token",
                                        environ)
            store = open_store(database)
        except (UsersFileError, StoreError) as exc:
            raise ServiceError(str(exc)) from None
        metrics = LifecycleMetrics(store, teams=policy.teams)
        intake = Intake(store, IntakeSettings(merge_grace=policy.merge_grace, flap_window=policy.flap_window,
                                              flap_episodes=policy.flap_episodes), metrics)
        urls = [url if "://" in url else f"http://{url}" for url in alertmanagers]
        alertmanager = AlertmanagerAPI(urls) if urls else None
        lifecycle = Lifecycle(store, policy, alertmanager, metrics)
        reconciler = None
        if reconcile and alertmanager is not None:
            reconciler = Reconciler(store, intake, lifecycle, policy, alertmanager, observer=metrics,
                                    absent_grace=policy.absent_grace)
        return cls(store=store, policy=policy, intake=intake, lifecycle=lifecycle, metrics=metrics,
                   authenticator=authenticator, webhook=WebhookGuard(token), alertmanager=alertmanager,
                   reconciler=reconciler)

    def report(self, since: float, until: float, **filters: str | None) -> dict:
        """analytics.report over this store (MTTA, MTTR, noisiest, flapping, false-positive rate, trend)."""
        return analytics.report(self.store, since, until, flap_window=self.policy.flap_window,
                                flap_episodes=self.policy.flap_episodes, now=self.clock(), **filters)

    async def write(self, work: Callable[..., T], *args: Any) -> T:
        """Run a store write off the event loop, on the writer threads: one for SQLite (it has one writer at a
        time anyway; dozens of threads queueing on its lock only fight over the GIL), a few for PostgreSQL."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1 if self.store.sqlite else WRITERS,
                                              thread_name_prefix="store-writer")
        return await asyncio.get_running_loop().run_in_executor(self._writer, functools.partial(work, *args))

    async def ingest(self, observations: list[Observation], record: dict) -> Counter[str]:
        """One webhook post, committed before it returns. Posts that arrive while a group is being written wait
        for the next group and share its commit: under a burst (an Alertmanager HA pair flushing many groups)
        each post costs one transaction's share instead of a whole one."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((observations, record, done))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self._pending:
            group, self._pending = self._pending[:GROUP_MAX], self._pending[GROUP_MAX:]
            try:
                outcome = await self.write(self.intake.ingest_group, [(obs, rec) for obs, rec, _ in group])
            except Exception as exc:  # each post of the group answers with the error; none is half-written
                for *_, done in group:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (*_, done), results in zip(group, outcome, strict=True):
                if not done.done():
                    done.set_result(results)

    # --- background work ---------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The reconciler loop for as long as the block runs; the Alertmanager client is closed after it."""
        stop = asyncio.Event()
        loop = asyncio.create_task(self.reconciler.run_forever(stop)) if self.reconciler is not None else None
        try:
            yield
        finally:
            stop.set()
            for task in (loop, self._expiring):
                if task is not None:
                    try:
                        await asyncio.wait_for(task, STOP_TIMEOUT)
                    except (TimeoutError, asyncio.CancelledError):
                        log.warning("background work did not stop in %.0f s; cancelled", STOP_TIMEOUT)
            if self.alertmanager is not None:
                await self.alertmanager.aclose()

    def expire_acks_soon(self) -> None:
        """A resolve arrived: expire the ack silences of resolved episodes now (one run at a time)."""
        if self.reconciler is None:
            return
        if self._expiring is not None and not self._expiring.done():
            self._again = True
            return
        self._expiring = asyncio.get_running_loop().create_task(self._expire_resolved())

    async def _expire_resolved(self) -> None:
        while True:
            self._again = False
            try:
                await self.reconciler.expire_acks_of_resolved()
            except Exception as exc:  # the next reconcile round retries; a webhook must not fail for it
                log.warning("expiring ack silences of resolved episodes failed: %s", exc)
            if not self._again:
                return

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        self.store.close()


def serve(spec: FleetSpec, listen: str | None = None, alertmanagers: Sequence[str] = (), database: str | None = None,
          users_file: str | Path | None = None, proxy_user_header: str | None = None,
          webhook_token_file: str | Path | None = None, session_secret_file: str | Path | None = None,
          log_level: str = "info") -> int:
    """``cachewatch alerts serve``: build the service and serve the webhook, API, console and /metrics on
    ``listen`` (default: the spec's alert_lifecycle.listen) until SIGINT/SIGTERM; returns the exit code.

    Logs are JSON lines with secrets scrubbed (cachewatch.logs); uvicorn's access lines hold the method, path and
    status, never headers, so tokens never reach them. Raises ServiceError when it cannot start.
    """
    import uvicorn  # only serving needs it

    from cachewatch.alert_lifecycle.api import create_app

    setup_logging(log_level)
    address = listen or spec.alert_lifecycle.listen
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ServiceError(f"--listen {address!r}: expected HOST:PORT")
    service = Service.build(spec, database=database, alertmanagers=alertmanagers,
                            users_file=_path(users_file), proxy_user_header=proxy_user_header,
                            webhook_token_file=_path(webhook_token_file),
                            session_secret_file=_path(session_secret_file))
    log.info("serving the alert lifecycle", extra={
        "listen": address, "database": service.store.redacted_url, "alertmanagers": service.alertmanager.members
        if service.alertmanager else [], "identities": service.authenticator.describe()})
    config = uvicorn.Config(create_app(service), host=host.strip("[]") or "127.0.0.1", port=int(port),
                            log_config=None, log_level=log_level, server_header=False)
    try:
        server = uvicorn.Server(config)
        gc.freeze()  # the app's long-lived objects leave the collector's generations: full collections stay short
        server.run()
        return 0 if server.started else 1
    finally:
        service.close()


def _path(value: str | Path | None) -> Path | None:
    return Path(value) if value else None
