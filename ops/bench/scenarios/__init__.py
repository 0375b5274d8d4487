"""The scenarios of the performance issue's table (P1 to P16), in groups that share servers.

Each group module has `NUMBERS` and `async def run(ctx) -> list[Outcome]`, returning the
outcomes of the selected numbers among its own. `CATALOGUE` holds what the table prints; the
titles carry the run's sizes, since quick and smoke runs shrink them. The second column of the
table is the peer (`--peer-url`) where the scenario is an HTTP one, or the scenario's own
in-process reference (P7).
"""

from __future__ import annotations

from ops.bench.outcome import Outcome
from ops.bench.settings import BenchSettings

CATALOGUE: dict[int, tuple[str, str]] = {
    1: ("GET /health, c{connections}", "rps >= 1.2 x peer"),
    2: (
        "heartbeats, {heartbeat_vms:,} VMs, c{connections}",
        "rps >= 1.0 x peer, p99 <= 20 ms",
    ),
    3: ("registrations, from empty", "rps >= 2 x peer"),
    4: (
        "registrations, {big_fleet:,} present",
        "rps >= 3 x peer, p99 <= 50 ms",
    ),
    5: ("discover {infra_vms} of {big_fleet:,}, c{connections}", "p99 / p50 <= 5"),
    6: ("RSS per VM above idle, {big_fleet:,} VMs", "<= 1,536 B/VM"),
    7: ("cold start, {log_events:,} events", "<= 1.3 x raw sqlite3+orjson fold"),
    8: (
        "fan-out: {watchers:,} watchers ?vm=, {watch_rate:,} events/s",
        "all delivered, p99 <= 100 ms, CPU/event flat",
    ),
    17: (
        "fan-out: {watchers:,} watchers ?selector=, {watch_rate:,} events/s",
        "all delivered, p99 <= 100 ms, CPU/event flat",
    ),
    13: ("GET /registry/vms/{{id}}, {heartbeat_vms:,} VMs, c{connections}", "rps >= 1.2 x peer"),
    14: (
        "discover {role_vms} of {heartbeat_vms:,}, c{connections}",
        "rps >= 1.5 x peer",
    ),
    15: (
        "heartbeats with JSON request logs, c{connections}",
        "rps >= 0.8 x logs off",
    ),
    16: (
        "heartbeats while retention drops {retention_events:,} old events, c{connections}; "
        "file size over {retention_windows} windows",
        "p99 <= 50 ms, rps >= 0.8 x no retention, size within 10 %",
    ),
    # Only with --postgres URL; the reference is the same measure on SQLite (postgres.py).
    9: ("PostgreSQL heartbeats, 1 replica, c{connections}", "rps >= 0.5 x SQLite"),
    10: ("PostgreSQL heartbeats, 2 replicas, c{connections}", "(reported)"),
    11: ("PostgreSQL registrations, 1 replica", "(reported)"),
    12: (
        "PostgreSQL feed A -> B, {xr_rate} events/s",
        "all seen, p99 <= 100 ms",
    ),
}


def outcome(number: int, settings: BenchSettings) -> Outcome:
    title, target = CATALOGUE[number]
    sizes = {name: getattr(settings, name) for name in settings.__slots__}
    return Outcome(number, title.format(**sizes), target.format(**sizes))
