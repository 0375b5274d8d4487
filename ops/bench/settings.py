"""Sizes and durations of a run. `FULL` is the issue's table; `QUICK` and `SMOKE` shrink it.

Only `FULL` figures are comparable with the targets: a quick run checks that everything works
and gives a rough idea, with smaller fleets and logs and a single short run per figure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class BenchSettings:
    label: str = "full"
    runs: int = 3
    duration_s: float = 5.0  # one wrk measurement
    warmup_s: float = 1.0
    # 1, 2 and 10: HTTP writes
    heartbeat_vms: int = 1_000
    write_connections: int = 64
    # 3, 4 and 9: reads against a large fleet
    big_fleet: int = 100_000
    small_fleet: int = 100
    infra_vms: int = 3
    read_connections: int = 8
    # 5 and 6: cold start
    log_events: int = 1_000_000
    log_vms: int = 10_000
    heartbeat_share: float = 0.97
    snapshot_tail: int = 5_000
    # 7 and 8: fan-out
    wide_subscribers: int = 1_000
    wide_rate: int = 100
    deep_subscribers: int = 100
    deep_rate: int = 1_000
    fanout_s: float = 10.0
    drain_s: float = 5.0  # how long subscribers may take to catch up after the last write

    def scaled(self, **changes: object) -> BenchSettings:
        return replace(self, **changes)  # type: ignore[arg-type]


FULL = BenchSettings()

QUICK = FULL.scaled(
    label="quick",
    runs=1,
    duration_s=2.0,
    warmup_s=0.5,
    big_fleet=20_000,
    log_events=200_000,
    log_vms=2_000,
    snapshot_tail=1_000,
    fanout_s=3.0,
    drain_s=3.0,
)

SMOKE = QUICK.scaled(
    label="smoke",
    duration_s=1.0,
    heartbeat_vms=20,
    write_connections=4,
    big_fleet=500,
    small_fleet=50,
    log_events=3_000,
    log_vms=50,
    snapshot_tail=100,
    wide_subscribers=5,
    wide_rate=50,
    deep_subscribers=5,
    deep_rate=100,
    fanout_s=1.0,
    drain_s=2.0,
)
