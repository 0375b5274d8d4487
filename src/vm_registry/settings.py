"""Server settings, declared once each: the field's type and default, its help text, and
(derived from its name unless it says otherwise) its `serve` flag and environment twin.

`cli/serve_flags.py` builds `serve`'s flags from these declarations and the typed `Settings`
back from the parsed flags; `ops/settings_table.py` renders the configuration tables of the
README and docs/health.md from them, and a test fails when a page's copy drifts. To add a
setting, add a field with `setting(...)` here; a field without one is fixed (not configurable
from outside).

The flag wins over the environment, and the environment over the default.

Plain values only: settings sit below every layer that uses them, so they import none of them
(the app turns them into the service's own objects, such as the reaper's `GuardPolicy`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_type_hints

# The fleet's own domain: a VM's address is `<id>.vm.vers.sh` unless it says otherwise.
VM_DOMAIN: Final = "vm.vers.sh"
# The fleet's own domain only: what a registry probes when nobody configured more. Not
# loopback: any registrant could then make the registry probe its own host's ports.
DEFAULT_ALLOW: Final = (f"*.{VM_DOMAIN}",)


def default_address(vm_id: str) -> str:
    return f"{vm_id}.{VM_DOMAIN}"


# What a parsed value must be, checked before the server starts.
Check = Literal["positive", "at least 1", "not negative", "a port", "a share"]

BOUNDS: Final = "bounds (docs/reliability.md)"
FEED: Final = "change feed (docs/feed.md)"
GUARD: Final = "staleness and the mass-expiry guard (docs/architecture.md)"
CHECKS: Final = "health checks (docs/health.md)"
REPLICAS: Final = "replicas and workers (docs/scale-out.md)"
SELF: Final = "self-registration"
RETENTION: Final = "retention (docs/audit.md)"
AUTH: Final = "authentication (docs/security.md)"


UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# The longest duration taken: a century. `--retain inf` (or 1e300d) passed the positive check and
# failed the server's start with a traceback, when the age was made milliseconds.
MAX_DURATION: Final = 36_500 * 86400


class Duration(float):
    """Seconds, written as a number with a unit (90s, 45m, 12h, 30d) or as plain seconds."""

    def __new__(cls, text: str | float) -> Duration:
        if isinstance(text, str):
            raw = text.strip().lower()
            unit = UNIT_SECONDS.get(raw[-1:], 0)
            number = raw[:-1] if unit else raw
            try:
                seconds = float(number) * (unit or 1)  # argparse says a flag's is invalid
            except ValueError:
                raise ValueError(
                    f"{text!r} is not a duration such as 90s, 45m, 12h or 30d"
                ) from None
            if not seconds > 0:
                raise ValueError(f"{text!r} is not a positive duration")
            if not seconds <= MAX_DURATION:
                raise ValueError(f"{text!r} is longer than a century ({MAX_DURATION // 86400}d)")
            return super().__new__(cls, seconds)
        return super().__new__(cls, text)


@dataclass(frozen=True, slots=True)
class Spec:
    help: str
    flag: str | None = ""  # "": --the-field-name; None: no flag (environment only)
    env: str | None = ""  # "": VM_REGISTRY_ and the flag's name; None: no environment twin
    group: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None  # matched without regard to case
    shown: str | None = None  # the default as words, when its value does not say it
    check: Check | None = None
    internal: bool = False  # a flag the server passes to itself, left out of help and docs


def setting(default: Any, help: str, **spec: Any) -> Any:
    """A field of `Settings` with its declaration (see `Spec`)."""
    return dataclasses.field(default=default, metadata={"spec": Spec(help, **spec)})


@dataclass(frozen=True, slots=True)
class Settings:
    # A SQLite file or a postgresql:// URL. Text, not a Path: a Path folds a URL's "//", and
    # handlers receive these settings by injection, whose types must stay plain.
    db: str = setting(
        "data/registry.db",
        "the event log: a SQLite file, or a postgresql:// URL (docs/scale-out.md)",
        metavar="FILE|URL",
    )
    host: str = setting("127.0.0.1", "address to listen on")
    port: int = setting(3000, "port to listen on", env="PORT", check="a port")
    stale_after: float = setting(
        300.0, "a running VM not touched for this long is stale", metavar="SECONDS",
        check="positive",
    )  # fmt: skip
    synchronous: str = setting(
        "normal",
        "normal survives a crash of the server; full also survives power loss",
        choices=("normal", "full"),
    )
    snapshot_every: int = setting(
        10_000, "snapshot the projection every N events; 0 disables", metavar="EVENTS",
        check="not negative",
    )  # fmt: skip
    log_level: str = setting(
        "info",
        "request lines are info; warning leaves them out",
        choices=("debug", "info", "warning", "error", "critical"),
    )
    log_format: Literal["json", "text"] | None = setting(
        None,
        "how log lines are written",
        choices=("json", "text"),
        shown="json when stderr is not a terminal, else text",
    )
    fast_path: bool = setting(
        True, "answer /health, heartbeats, one VM, discover and the list in the HTTP protocol, "
        "below the app (docs/benchmarks.md); the environment twin takes off",
        flag="--no-fast-path", env="VM_REGISTRY_FAST_PATH", shown="on",
    )  # fmt: skip
    # Authentication. The two secrets have no flag: a flag shows in `ps` to every user.
    auth_token: str | None = setting(
        None, "one bearer token with every scope; unset leaves the API open", flag=None,
        env="VERS_AUTH_TOKEN", group=AUTH,
    )  # fmt: skip
    tokens_file: Path | None = setting(
        None, "scoped tokens: admin, agent, read", flag="--tokens", env="VM_REGISTRY_TOKENS_FILE",
        metavar="FILE.toml", group=AUTH,
    )  # fmt: skip
    tokens_env: str | None = setting(
        None, "scoped tokens as TOML text, instead of a file", flag=None,
        env="VM_REGISTRY_TOKENS", group=AUTH,
    )  # fmt: skip
    cors_origins: tuple[str, ...] = setting(
        (), "let browsers from this origin call the API", flag="--cors-origin",
        env="VM_REGISTRY_CORS_ORIGINS", metavar="ORIGIN", group=AUTH,
    )  # fmt: skip
    metrics_public: bool = setting(
        False, "serve /metrics without a token even when auth is on", group=AUTH
    )
    # Bounds against hostile or buggy clients (docs/reliability.md has the worst-case memory).
    max_body_bytes: int = 1024 * 1024
    max_entry_bytes: int = setting(
        64 * 1024, "largest services + metadata of one VM, encoded", group=BOUNDS,
        metavar="BYTES", check="at least 1",
    )  # fmt: skip
    max_vms: int = setting(
        1_000_000, "VMs registered at once; past it, registration gets 507", group=BOUNDS,
        check="at least 1",
    )  # fmt: skip
    header_timeout: float = setting(
        10.0, "time for a request's head to arrive, then 408; 0 disables", group=BOUNDS,
        metavar="SECONDS", check="not negative",
    )  # fmt: skip
    body_timeout: float = setting(
        30.0, "time for a request's body to arrive after its head, then 408; 0 disables",
        group=BOUNDS, metavar="SECONDS", check="not negative",
    )  # fmt: skip
    max_held_queries: int = setting(
        1000, "blocking queries (?index=&wait=) held at once before 503 (docs/health.md)",
        group=BOUNDS, check="positive",
    )  # fmt: skip
    # Change feed.
    keepalive_seconds: float = setting(
        15.0, "comment line on idle streams", flag="--keepalive", group=FEED, metavar="SECONDS",
        check="positive",
    )  # fmt: skip
    retry_ms: int = 2000
    max_subscribers: int = setting(
        1000, "concurrent streams before 503", group=FEED, check="not negative"
    )
    feed_tail: int = setting(
        20_000, "recent events kept in memory; older resumes read the log", group=FEED,
        check="not negative",
    )  # fmt: skip
    feed_tail_bytes: int = setting(
        64 * 1024 * 1024, "bytes held for recent events: frames, and metadata only they keep",
        group=FEED, metavar="BYTES", check="at least 1",
    )  # fmt: skip
    bookmark_after_seconds: float = setting(
        5.0, "quiet time before a filtered stream gets a bookmark", flag="--bookmark-after",
        group=FEED, metavar="SECONDS", check="positive",
    )  # fmt: skip
    # Staleness reaper and its mass-expiry guard.
    reap_interval: float | None = setting(
        None, "how often to look for stale VMs", group=GUARD, metavar="SECONDS",
        shown="stale-after / 10, at most 5 s", check="positive",
    )  # fmt: skip
    guard_enabled: bool = setting(
        True, "let any number of VMs go stale at once (the environment twin takes off)",
        flag="--no-expiry-guard", env="VM_REGISTRY_EXPIRY_GUARD", group=GUARD,
        shown="the guard is on",
    )  # fmt: skip
    guard_share: float = setting(
        0.5,
        "share of the running fleet going silent that trips the guard",
        group=GUARD,
        metavar="SHARE",
        check="a share",
    )
    guard_min_fleet: int = setting(
        10, "smallest running fleet the guard protects", group=GUARD, check="not negative"
    )
    guard_max_seconds: float | None = setting(
        None, "longest the guard holds", flag="--guard-max-hold", group=GUARD,
        metavar="SECONDS", shown="three stale windows", check="positive",
    )  # fmt: skip
    # Active health checks (docs/health.md): off unless asked for, see docs/security.md.
    health_checks: bool = setting(
        False, "probe each service's healthPath (the environment twin: on)", group=CHECKS
    )
    health_check_allow: tuple[str, ...] = setting(
        DEFAULT_ALLOW, "what may be probed: an IP, a network, a host name or "
        "*.domain; replaces the default (loopback only if listed)", group=CHECKS,
        metavar="HOST|NETWORK|*.DOMAIN",
    )  # fmt: skip
    check_interval: float = setting(
        30.0, "time between two probes of a service, +-10%", group=CHECKS, metavar="SECONDS",
        check="positive",
    )  # fmt: skip
    check_timeout: float = setting(
        2.0, "a probe not answered within this fails", group=CHECKS, metavar="SECONDS",
        check="positive",
    )  # fmt: skip
    check_concurrency: int = setting(32, "probes in flight at most", group=CHECKS, check="positive")
    check_failures: int = setting(
        2, "consecutive failures before a service is critical", group=CHECKS, check="positive"
    )
    # Replicas (docs/scale-out.md): how long a read with minRevision waits for this process
    # to fold that revision before it answers 503; worker processes on one port and log.
    db_pool_size: int = setting(
        4, "PostgreSQL connections this replica holds at most (besides its listener and lease)",
        group=REPLICAS, metavar="N", check="positive",
    )  # fmt: skip
    min_revision_wait: float = setting(
        5.0, "longest a read with minRevision waits for this replica to catch up, then 503",
        group=REPLICAS, metavar="SECONDS", check="not negative",
    )  # fmt: skip
    workers: int = setting(
        1, "processes serving one port and one log", group=REPLICAS, check="at least 1"
    )
    # Set by `serve --workers N` in each worker: its index and the listening socket it shares.
    worker_index: int | None = setting(None, "", env=None, group=REPLICAS, internal=True)
    worker_fd: int | None = setting(None, "", env=None, group=REPLICAS, internal=True)
    # Self-registration.
    self_register: bool = setting(
        False, "register this server as an infra VM (implied when VERS_VM_ID is set)", group=SELF
    )
    self_id: str | None = setting(
        None, "the id to register under", env="VERS_VM_ID", group=SELF, metavar="ID",
        shown="the hostname, with --self-register",
    )  # fmt: skip
    self_name: str = setting("infra", "the name to register", group=SELF, metavar="NAME")
    self_address: str | None = setting(
        None,
        "the address to register",
        group=SELF,
        shown=default_address("<id>"),
        metavar="ADDRESS",
    )
    # Retention (docs/audit.md): off unless asked for; only the leader applies it.
    retain: Duration | None = setting(
        None, "drop events older than this, as 30d, 12h, 45m or 90s", group=RETENTION,
        metavar="AGE", shown="off",
    )  # fmt: skip
    retain_events: int | None = setting(
        None, "keep at most this many of the newest events", group=RETENTION, metavar="N",
        shown="off", check="positive",
    )  # fmt: skip
    archive_dir: Path | None = setting(
        None, "before dropping events, write them here as gzip JSON lines; without it dropped "
        "history is gone", group=RETENTION, metavar="DIR", shown="not archived",
    )  # fmt: skip
    retain_interval: float = setting(
        60.0, "time between two retention runs", group=RETENTION, metavar="SECONDS",
        check="positive",
    )  # fmt: skip
    retain_step: int = setting(
        5000, "events one retention step drops (one transaction) at most", group=RETENTION,
        metavar="EVENTS", check="at least 1",
    )  # fmt: skip
    # Pause between two steps of one run: live writes get the log's lock in between.
    retain_pause: float = 0.05

    @property
    def retention_on(self) -> bool:
        return self.retain is not None or self.retain_events is not None

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


@dataclass(frozen=True, slots=True)
class Declared:
    """One setting as the outside sees it: its field, and the names derived for it."""

    name: str
    type: Any  # the field's annotation, resolved
    default: Any
    spec: Spec
    flag: str | None
    env: str | None


def declared() -> tuple[Declared, ...]:
    """Every configurable setting, in declaration order."""
    hints = get_type_hints(Settings)
    found: list[Declared] = []
    for field in dataclasses.fields(Settings):
        spec: Spec | None = field.metadata.get("spec")
        if spec is None:
            continue
        flag = "--" + field.name.replace("_", "-") if spec.flag == "" else spec.flag
        env = spec.env
        if env == "":
            base = flag[2:] if flag else field.name
            env = "VM_REGISTRY_" + base.upper().replace("-", "_")
        found.append(Declared(field.name, hints[field.name], field.default, spec, flag, env))
    return tuple(found)
