"""`vm-registry serve`'s options, one row each: the flag, its environment twin, how its text is
read, its default, and its help.

The flag wins over the environment, and the environment over the default. An environment value
is handed to argparse as a string default, which argparse converts with the row's `type` only
when the flag is absent, so a malformed `PORT=x` is reported as argparse reports a malformed
`--port x`, and only by `serve` (every subcommand's parser is built at startup).

To add an option, add a row; `cli/serve.py` turns the parsed value into `Settings`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vm_registry.persistence.store import parse_target

# How a row becomes an argparse argument. `value` takes one value, `list` is repeatable (its
# environment twin is comma-separated), `on` and `off` are switches (an environment value of
# "off" or "0" turns an `off` row's setting off; "on", "1" or "true" turns an `on` row's on).
Kind = Literal["value", "list", "on", "off"]


@dataclass(frozen=True, slots=True)
class Flag:
    flag: str
    env: str | None
    type: Callable[[str], Any]
    default: Any
    help: str
    group: str | None = None
    kind: Kind = "value"
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    dest: str | None = None


def _lower(text: str) -> str:
    return text.lower()


def _optional_text(text: str) -> str | None:
    return text or None


BOUNDS = "bounds (docs/reliability.md)"
FEED = "change feed"
GUARD = "mass-expiry guard"
CHECKS = "health checks (docs/health.md)"
SELF = "self-registration"
REPLICAS = "replicas and workers"

FLAGS: tuple[Flag, ...] = (
    Flag("--host", "VM_REGISTRY_HOST", str, "127.0.0.1", "address to listen on"),
    Flag("--port", "PORT", int, 3000, "port to listen on"),
    Flag(
        "--db",
        "VM_REGISTRY_DB",
        parse_target,
        "data/registry.db",
        "the event log: a SQLite file, or a postgresql:// URL (docs/scale-out.md)",
        metavar="FILE|URL",
    ),
    Flag(
        "--db-pool-size",
        "VM_REGISTRY_DB_POOL_SIZE",
        int,
        4,
        "PostgreSQL connections this replica holds at most (besides its listener and lease)",
        metavar="N",
    ),
    Flag(
        "--stale-after",
        "VM_REGISTRY_STALE_AFTER",
        float,
        300.0,
        "a running VM not touched for this long is stale",
        metavar="SECONDS",
    ),
    Flag(
        "--synchronous",
        "VM_REGISTRY_SYNCHRONOUS",
        _lower,
        "normal",
        "normal survives a crash of the server; full also survives power loss",
        choices=("normal", "full"),
    ),
    Flag(
        "--log-level",
        "VM_REGISTRY_LOG_LEVEL",
        _lower,
        "info",
        "request lines are info; warning leaves them out",
        choices=("debug", "info", "warning", "error", "critical"),
    ),
    Flag(
        "--log-format",
        "VM_REGISTRY_LOG_FORMAT",
        _lower,
        None,
        "default: json when stderr is not a terminal, else text",
        choices=("json", "text"),
    ),
    Flag(
        "--metrics-public",
        None,
        str,
        False,
        "serve /metrics without a token even when auth is on",
        kind="on",
    ),
    Flag(
        "--snapshot-every",
        "VM_REGISTRY_SNAPSHOT_EVERY",
        int,
        10_000,
        "snapshot the projection every N events; 0 disables",
        metavar="EVENTS",
    ),
    Flag(
        "--tokens",
        "VM_REGISTRY_TOKENS_FILE",
        Path,
        None,
        "scoped tokens: admin, agent, read; see docs/security.md",
        metavar="FILE.toml",
    ),
    Flag(
        "--cors-origin",
        "VM_REGISTRY_CORS_ORIGINS",
        str,
        (),
        "let browsers from this origin call the API (repeatable)",
        kind="list",
    ),
    Flag(
        "--max-entry-bytes",
        "VM_REGISTRY_MAX_ENTRY_BYTES",
        int,
        64 * 1024,
        "largest services + metadata of one VM, encoded",
        group=BOUNDS,
        metavar="BYTES",
    ),
    Flag(
        "--max-vms",
        "VM_REGISTRY_MAX_VMS",
        int,
        1_000_000,
        "VMs registered at once; past it, registration gets 507",
        group=BOUNDS,
    ),
    Flag(
        "--header-timeout",
        "VM_REGISTRY_HEADER_TIMEOUT",
        float,
        10.0,
        "time for a request's head to arrive, then 408; 0 disables",
        group=BOUNDS,
        metavar="SECONDS",
    ),
    Flag(
        "--body-timeout",
        "VM_REGISTRY_BODY_TIMEOUT",
        float,
        30.0,
        "time for a request's body to arrive after its head, then 408; 0 disables",
        group=BOUNDS,
        metavar="SECONDS",
    ),
    Flag(
        "--workers",
        "VM_REGISTRY_WORKERS",
        int,
        1,
        "processes serving one port and one log (docs/scale-out.md)",
        group=REPLICAS,
    ),
    Flag(
        "--min-revision-wait",
        "VM_REGISTRY_MIN_REVISION_WAIT",
        float,
        5.0,
        "longest a read with minRevision waits for this replica to catch up, then 503",
        group=REPLICAS,
        metavar="SECONDS",
    ),
    Flag("--worker-index", None, int, None, argparse.SUPPRESS, group=REPLICAS),
    Flag("--worker-fd", None, int, None, argparse.SUPPRESS, group=REPLICAS),
    Flag(
        "--self-register",
        None,
        bool,
        False,
        "register this server as an infra VM (implied when VERS_VM_ID is set)",
        group=SELF,
        kind="on",
    ),
    Flag(
        "--self-id",
        "VERS_VM_ID",
        _optional_text,
        None,
        "the id to register under (default: the hostname)",
        group=SELF,
    ),
    Flag("--self-name", "VM_REGISTRY_SELF_NAME", str, "infra", "the name to register", group=SELF),
    Flag(
        "--self-address",
        "VM_REGISTRY_SELF_ADDRESS",
        _optional_text,
        None,
        "the address to register (default: <id>.vm.vers.sh)",
        group=SELF,
    ),
    Flag(
        "--keepalive",
        "VM_REGISTRY_KEEPALIVE",
        float,
        15.0,
        "comment line on idle streams",
        group=FEED,
        metavar="SECONDS",
    ),
    Flag(
        "--max-subscribers",
        "VM_REGISTRY_MAX_SUBSCRIBERS",
        int,
        1000,
        "concurrent streams before 503",
        group=FEED,
    ),
    Flag(
        "--feed-tail",
        "VM_REGISTRY_FEED_TAIL",
        int,
        20_000,
        "recent events kept in memory; older resumes read the log",
        group=FEED,
    ),
    Flag(
        "--feed-tail-bytes",
        "VM_REGISTRY_FEED_TAIL_BYTES",
        int,
        64 * 1024 * 1024,
        "encoded size of the events kept in memory",
        group=FEED,
        metavar="BYTES",
    ),
    Flag(
        "--bookmark-after",
        "VM_REGISTRY_BOOKMARK_AFTER",
        float,
        5.0,
        "quiet time before a filtered stream gets a bookmark",
        group=FEED,
        metavar="SECONDS",
    ),
    Flag(
        "--no-expiry-guard",
        "VM_REGISTRY_EXPIRY_GUARD",
        bool,
        True,
        "let any number of VMs go stale at once (the environment twin takes off)",
        group=GUARD,
        kind="off",
        dest="guard_enabled",
    ),
    Flag(
        "--guard-share",
        "VM_REGISTRY_GUARD_SHARE",
        float,
        0.5,
        "share of the running fleet going silent that trips the guard",
        group=GUARD,
    ),
    Flag(
        "--guard-min-fleet",
        "VM_REGISTRY_GUARD_MIN_FLEET",
        int,
        10,
        "smallest running fleet the guard protects",
        group=GUARD,
    ),
    Flag(
        "--guard-max-hold",
        None,
        float,
        None,
        "longest the guard holds (default: three stale windows)",
        group=GUARD,
        metavar="SECONDS",
    ),
    Flag(
        "--reap-interval",
        None,
        float,
        None,
        "how often to look for stale VMs (default: stale-after / 10, at most 5 s)",
        group=GUARD,
        metavar="SECONDS",
    ),
    Flag(
        "--health-checks",
        "VM_REGISTRY_HEALTH_CHECKS",
        bool,
        False,
        "probe each service's healthPath; off by default (the environment twin: on)",
        group=CHECKS,
        kind="on",
    ),
    Flag(
        "--health-check-allow",
        "VM_REGISTRY_HEALTH_CHECK_ALLOW",
        str,
        (),
        "what may be probed (repeatable): an IP, a network, a host name or *.domain; "
        "replaces the default, *.vm.vers.sh (loopback only if listed)",
        group=CHECKS,
        kind="list",
        metavar="HOST|NETWORK|*.DOMAIN",
    ),
    Flag(
        "--check-interval",
        "VM_REGISTRY_CHECK_INTERVAL",
        float,
        30.0,
        "time between two probes of a service, +-10%%",
        group=CHECKS,
        metavar="SECONDS",
    ),
    Flag(
        "--check-timeout",
        "VM_REGISTRY_CHECK_TIMEOUT",
        float,
        2.0,
        "a probe not answered within this fails",
        group=CHECKS,
        metavar="SECONDS",
    ),
    Flag(
        "--check-concurrency",
        "VM_REGISTRY_CHECK_CONCURRENCY",
        int,
        32,
        "probes in flight at most",
        group=CHECKS,
    ),
    Flag(
        "--check-failures",
        "VM_REGISTRY_CHECK_FAILURES",
        int,
        2,
        "consecutive failures before a service is critical",
        group=CHECKS,
    ),
    Flag(
        "--max-held-queries",
        "VM_REGISTRY_MAX_HELD_QUERIES",
        int,
        1000,
        "blocking queries (?index=&wait=) held at once before 503 (docs/health.md)",
        group=BOUNDS,
    ),
)


def _env_default(row: Flag) -> Any:
    raw = os.environ.get(row.env) if row.env else None
    if raw is None or raw == "":
        return row.default
    if row.kind == "list":
        return [part for part in raw.split(",") if part]
    if row.kind == "off":
        return raw.lower() not in ("off", "0")
    if row.kind == "on":
        return raw.lower() in ("on", "1", "true")
    return raw  # a string default: argparse converts it with `type` when the flag is absent


def add_flags(parser: argparse.ArgumentParser, flags: tuple[Flag, ...] = FLAGS) -> None:
    groups: dict[str | None, Any] = {None: parser}
    for row in flags:
        if row.group not in groups:
            groups[row.group] = parser.add_argument_group(row.group)
        target = groups[row.group]
        help_text = f"{row.help} ({row.env})" if row.env else row.help
        options: dict[str, Any] = {"default": _env_default(row), "help": help_text}
        if row.dest is not None:
            options["dest"] = row.dest
        if row.kind == "on":
            target.add_argument(row.flag, action="store_true", **options)
        elif row.kind == "off":
            target.add_argument(row.flag, action="store_false", **options)
        else:
            if row.kind == "list":
                options["action"] = "append"
                options["default"] = list(options["default"])
            options["type"] = row.type
            if row.metavar is not None:
                options["metavar"] = row.metavar
            if row.choices is not None:
                options["choices"] = row.choices
            target.add_argument(row.flag, **options)
