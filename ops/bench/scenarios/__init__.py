"""The scenarios of the issue's table, in groups that share a server and its set-up.

Each group module has `NUMBERS` and `async def run(ctx) -> list[Outcome]`, returning the
outcomes of the selected numbers among its own. `CATALOGUE` holds what the table prints; the
titles carry the run's sizes, since quick and smoke runs shrink them.
"""

from __future__ import annotations

from ops.bench.outcome import Outcome
from ops.bench.settings import BenchSettings

CATALOGUE: dict[int, tuple[str, str]] = {
    1: (
        "durable heartbeats, {write_connections} conns, {heartbeat_vms:,} VMs",
        ">= 0.70 x /health rps, p99 <= 30 ms",
    ),
    2: ("registrations, unique ids", ">= 0.60 x /health rps"),
    3: ("discover/infra in {big_fleet:,} VMs", "p50 <= 1.2 x same in {small_fleet:,} VMs"),
    4: ("GET /registry/vms, {big_fleet:,} entries", "<= 2 x orjson.dumps of the list"),
    5: ("cold start, {log_events:,} events, no snapshot", "<= 1.3 x raw sqlite3+orjson fold"),
    6: ("cold start, same log, recent snapshot", "<= 0.15 x scenario 5"),
    7: (
        "SSE {wide_subscribers:,} subscribers x {wide_rate:,} events/s",
        "all delivered, p99 <= 150 ms",
    ),
    8: (
        "SSE {deep_subscribers:,} subscribers x {deep_rate:,} events/s",
        "nothing lost, p99 <= 50 ms",
    ),
    9: ("memory at {big_fleet:,} VMs", "<= 1.5 KiB RSS per VM above idle"),
    10: ("log size per heartbeat", "<= 120 B per heartbeat"),
}


def outcome(number: int, settings: BenchSettings) -> Outcome:
    title, target = CATALOGUE[number]
    sizes = {name: getattr(settings, name) for name in settings.__slots__}
    return Outcome(number, title.format(**sizes), target.format(**sizes))
