"""Server settings. Each has a command-line flag and an environment twin; the flag wins.

Plain values only: settings sit below every layer that uses them, so they import none of them
(the app turns them into the service's own objects, such as the reaper's `GuardPolicy`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

# The fleet's own domain only: what a registry probes when nobody configured more. Not
# loopback: any registrant could then make the registry probe its own host's ports.
DEFAULT_ALLOW: Final = ("*.vm.vers.sh",)


@dataclass(frozen=True, slots=True)
class Settings:
    # A SQLite file or a postgresql:// URL. Text, not a Path: a Path folds a URL's "//", and
    # handlers receive these settings by injection, whose types must stay plain.
    db: str = "data/registry.db"
    db_pool_size: int = 4  # PostgreSQL connections a replica may hold (docs/scale-out.md)
    host: str = "127.0.0.1"
    port: int = 3000
    stale_after: float = 300.0
    # NORMAL survives a crash of the server; FULL also survives a power cut (docs/architecture.md).
    synchronous: str = "NORMAL"
    # The bearer token from VERS_AUTH_TOKEN; None leaves the API open (with a warning).
    auth_token: str | None = None
    tokens_file: Path | None = None  # scoped tokens (TOML), see api/auth.py
    tokens_env: str | None = None  # VM_REGISTRY_TOKENS
    cors_origins: tuple[str, ...] = ()  # no CORS unless configured
    max_body_bytes: int = 1024 * 1024
    # Bounds against hostile or buggy clients (docs/reliability.md has the worst-case memory).
    max_entry_bytes: int = 64 * 1024  # services and metadata of one entry, encoded
    max_vms: int = 1_000_000  # registered at once; past it, registration answers 507
    header_timeout: float = 10.0  # seconds for a request's head to arrive
    body_timeout: float = 30.0  # seconds for a request's body to arrive after its head
    metrics_public: bool = False  # /metrics without a token even when auth is on
    # Change feed.
    keepalive_seconds: float = 15.0
    retry_ms: int = 2000
    max_subscribers: int = 1000
    feed_tail: int = 20_000  # recent events kept in memory for subscribers
    feed_tail_bytes: int = 64 * 1024 * 1024  # ... and their encoded size, whichever binds first
    bookmark_after_seconds: float = 5.0
    # Staleness reaper and its mass-expiry guard.
    reap_interval: float | None = None  # default: a tenth of stale_after, at most 5 s
    guard_enabled: bool = True
    guard_share: float = 0.5
    guard_min_fleet: int = 10
    guard_max_seconds: float | None = None  # default: 3 stale windows
    # Snapshots.
    snapshot_every: int = 10_000
    # Active health checks (docs/health.md): off unless asked for, see docs/security.md.
    health_checks: bool = False
    health_check_allow: tuple[str, ...] = DEFAULT_ALLOW
    check_interval: float = 30.0
    check_timeout: float = 2.0
    check_concurrency: int = 32
    check_failures: int = 2
    # Blocking queries (`?index=N&wait=...`) held at once before 503.
    max_held_queries: int = 1000
    # Replicas (docs/scale-out.md): how long a read with minRevision waits for this process
    # to fold that revision before it answers 503; worker processes on one port and log.
    min_revision_wait: float = 5.0
    workers: int = 1
    worker_index: int | None = None  # set in each worker process of `serve --workers N`
    worker_fd: int | None = None  # the listening socket the supervisor shares with its workers
    # Self-registration.
    self_id: str | None = None
    self_name: str = "infra"
    self_address: str | None = None

    @property
    def effective_reap_interval(self) -> float:
        if self.reap_interval is not None:
            return self.reap_interval
        return min(self.stale_after / 10, 5.0)

    @property
    def effective_guard_hold(self) -> float:
        """Longest the mass-expiry guard holds, in seconds."""
        if self.guard_max_seconds is not None:
            return self.guard_max_seconds
        return 3 * self.stale_after
