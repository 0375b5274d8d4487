"""`create_app(settings)`: the litestar app, with a lifespan that owns every resource.

The lifespan opens the store, replays the log, starts the single writer, and puts the
`Registry` into app state; handlers receive it by dependency injection, never from globals.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State as AppState
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from vm_registry.api import edge, errors, headers, metrics, openapi, schemas, wire
from vm_registry.api.auth import auth_middleware, load_tokens
from vm_registry.api.request_log import observed
from vm_registry.api.routes import health, history, stream, ui, vms
from vm_registry.feed.broker import Broker
from vm_registry.persistence.store import open_store
from vm_registry.service.changes import Changes
from vm_registry.service.following import Follower
from vm_registry.service.health_checks import CheckPolicy, HealthChecker
from vm_registry.service.history import TimeMachine
from vm_registry.service.leadership import Leadership
from vm_registry.service.probe_process import ProbeProcess
from vm_registry.service.reaper import GuardPolicy, Reaper
from vm_registry.service.registry import Registry, wall_clock_ms
from vm_registry.service.self_registration import Identity, SelfRegistration
from vm_registry.service.snapshots import Snapshotter, load_state
from vm_registry.service.writer import Outcome
from vm_registry.settings import Settings
from vm_registry.telemetry.health_collector import HealthCollector
from vm_registry.telemetry.registry_collector import RegistryCollector
from vm_registry.telemetry.writer_metrics import MeteredWriter

log = logging.getLogger("vm_registry")


def provide_registry(state: AppState) -> Registry:
    registry: Registry = state.registry
    return registry


def _self_registration(settings: Settings, registry: Registry) -> SelfRegistration | None:
    if not settings.self_id:
        return None
    identity = Identity(
        vm_id=settings.self_id,
        name=settings.self_name,
        address=settings.self_address or f"{settings.self_id}.vm.vers.sh",
        port=settings.port,
    )
    # Heartbeat well inside the stale window, and at least as often as agents are told to.
    return SelfRegistration(registry, identity, interval=min(settings.stale_after / 3, 60.0))


def _health_checker(
    settings: Settings, registry: Registry, is_leader: Callable[[], bool]
) -> HealthChecker | None:
    if not settings.health_checks:
        return None
    # Probes run in a child process: never on the API's loop or CPU (service/probe_process.py).
    prober = ProbeProcess(
        settings.health_check_allow, settings.check_timeout, settings.check_concurrency
    )
    return HealthChecker(registry, prober, _check_policy(settings), is_leader)


def provide_changes(state: AppState) -> Changes:
    changes: Changes = state.changes
    return changes


def _check_policy(settings: Settings) -> CheckPolicy:
    return CheckPolicy(
        interval=settings.check_interval,
        timeout=settings.check_timeout,
        concurrency=settings.check_concurrency,
        failures=settings.check_failures,
    )


def _guard_policy(settings: Settings) -> GuardPolicy:
    return GuardPolicy(
        enabled=settings.guard_enabled,
        share=settings.guard_share,
        min_fleet=settings.guard_min_fleet,
        max_hold_ms=int(settings.effective_guard_hold * 1000),
    )


def provide_history(state: AppState) -> TimeMachine:
    history: TimeMachine = state.history
    return history


def provide_broker(state: AppState) -> Broker:
    broker: Broker = state.broker
    return broker


def provide_settings(state: AppState) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_renderer(state: AppState) -> wire.EntryRenderer:
    renderer: wire.EntryRenderer = state.renderer
    return renderer


def create_app(settings: Settings) -> Litestar:
    tokens = load_tokens(settings.auth_token, settings.tokens_file, settings.tokens_env)
    telemetry = metrics.Telemetry()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        store = await open_store(
            settings.db, synchronous=settings.synchronous, pool_size=settings.db_pool_size
        )
        try:
            state = await load_state(store)
            # The fleet just replayed lives as long as the process: out of the cyclic
            # collector's sight, a full collection no longer walks it (at 100,000 VMs each one
            # stalled the loop for tens of milliseconds, the requests' p99 included).
            gc.freeze()
            history = TimeMachine(store, state)
            broker = Broker(
                store.log,
                history.state_at,
                head=state.revision,  # the writer publishes every event after it, in order
                tail_capacity=settings.feed_tail,
                tail_bytes=settings.feed_tail_bytes,
                max_subscribers=settings.max_subscribers,
            )
            # Half a reaper interval: a dead leader's work resumes within one reaper interval.
            leadership = Leadership(store.log.leadership(), settings.effective_reap_interval / 2)
            await leadership.start()
            snapshotter = Snapshotter(
                store, state, settings.snapshot_every, state.revision, lambda: leadership.is_leader
            )

            changes = Changes(state, settings.max_held_queries)

            def publish(outcomes: list[Outcome]) -> None:
                broker.publish(outcomes)
                changes.observe(outcomes)
                snapshotter.observe(outcomes)

            writer = MeteredWriter(
                store.log, state, wall_clock_ms, publish, metrics=telemetry.writer
            )
            registry = Registry(
                store.log,
                state,
                writer,
                stale_after=settings.stale_after,
                log_problem=store.file_problem,
                min_revision_wait=settings.min_revision_wait,
            )
            if not leadership.is_leader:  # its first campaign lost: another replica serves
                registry.joined_running_registry()
            reaper = Reaper(
                registry,
                settings.effective_reap_interval,
                _guard_policy(settings),
                lambda: leadership.is_leader,
            )
            app.state.settings = settings
            app.state.registry = registry
            app.state.broker = broker
            app.state.history = history
            app.state.renderer = wire.EntryRenderer()
            app.state.reaper = reaper
            app.state.changes = changes
            # Called by the server as soon as it is asked to stop (cli/uvicorn_server.py): held
            # blocking queries are answered instead of being cut at the grace timeout.
            app.state.begin_shutdown = changes.release_all
            app.state.leadership = leadership
            app.state.telemetry = telemetry
            telemetry.attach(
                RegistryCollector(
                    registry, broker, lambda: writer.queue_depth, leadership, storage=store
                )
            )
            checker = _health_checker(settings, registry, lambda: leadership.is_leader)
            app.state.health_checker = checker
            health_collector = HealthCollector(registry, checker, changes)
            telemetry.registry.register(health_collector)
            writer.start()
            # Other processes on the same log (replicas, `serve --workers`): fold what they commit.
            follower = Follower(store.log, writer)
            follower.start()
            # The reaper and the health checker write on the registry's own initiative: with
            # replicas on one log, only the leader's do (both are given `is_leader`).
            reaper.start()
            if checker is not None:
                checker.start()
            me = _self_registration(settings, registry)
            if me is not None:
                await me.start()
            if not tokens.enabled:
                log.warning(
                    "VERS_AUTH_TOKEN is not set: the API is open to anyone who can reach it"
                )
            log.info("replayed %d events; %d VMs registered", state.revision, len(state.entries))
            try:
                yield
            finally:
                if checker is not None:
                    await checker.stop()
                await reaper.stop()
                if me is not None:
                    await me.stop()
                await follower.stop()
                await writer.stop()
                await snapshotter.final()
                await leadership.stop()
                telemetry.detach()
                telemetry.registry.unregister(health_collector)
        finally:
            await store.close()

    app = Litestar(
        route_handlers=[
            *health.ROUTES,
            *vms.ROUTES,
            *history.ROUTES,
            *stream.ROUTES,
            *ui.ROUTES,
            *metrics.ROUTES,
        ],
        dependencies={
            "registry": Provide(provide_registry, sync_to_thread=False),
            "history": Provide(provide_history, sync_to_thread=False),
            "renderer": Provide(provide_renderer, sync_to_thread=False),
            "changes": Provide(provide_changes, sync_to_thread=False),
            "broker": Provide(provide_broker, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        exception_handlers=errors.HANDLERS,
        middleware=[auth_middleware(tokens, metrics_public=settings.metrics_public)],
        # A before_send hook, not middleware: it also sees what the router answers by itself
        # (404, 405), and the auth middleware's 401.
        before_send=[headers.before_send],
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins))
        if settings.cors_origins
        else None,
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="vm-registry",
            version="0.1.0",
            components=openapi.COMPONENTS,
            security=openapi.SECURITY,
        ),
        plugins=[schemas.ClosedShapes()],
        debug=False,
        logging_config=None,  # `vm-registry serve` configures logging (telemetry/log_format.py)
    )
    # Outside routing: HEAD on every GET route, and JSON for the answers made below our handlers.
    app.asgi_handler = edge.wrap(app.asgi_handler)
    # Outermost, so 404s, 405s, 401s and the edge's own answers are counted and logged too.
    app.asgi_handler = observed(app.asgi_handler, telemetry.http)
    return app
