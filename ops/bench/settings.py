"""Sizes and durations of a run. `FULL` is the issue's table; `QUICK` and `SMOKE` shrink it.

Only `FULL` figures are comparable with the targets: a quick run checks that everything works
and gives a rough idea, with smaller fleets and logs and a single short run per figure. The wrk
settings are the ones the peer was first measured with (`-t2 -c64`, 8 s after a 2 s warm-up).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class BenchSettings:
    label: str = "full"
    runs: int = 3
    duration_s: float = 8.0  # one wrk measurement
    warmup_s: float = 2.0  # once per server and scenario, before its runs
    wrk_threads: int = 2
    connections: int = 64
    # P2: heartbeats
    heartbeat_vms: int = 1_000
    # P14: how many of the heartbeat-sized fleet have the discovered role
    role_vms: int = 100
    # P4, P5 and P6: a large fleet
    big_fleet: int = 100_000
    infra_vms: int = 10
    # P7: cold start
    log_events: int = 1_000_000
    log_vms: int = 10_000
    heartbeat_share: float = 0.97
    # P8: filtered fan-out; the comparison run has `few_watchers`, so it tells whether the
    # server's CPU per event grows with the watchers an event does not concern
    watchers: int = 10_000
    few_watchers: int = 1_000
    watch_rate: int = 1_000
    fanout_s: float = 10.0
    idle_s: float = 5.0  # quiet window pricing idle watchers (keep-alive pings)
    drain_s: float = 5.0  # how long subscribers may take to catch up after the last write
    # P16: heartbeats while retention removes this many old events; then the file's size over
    # `retention_windows` windows of `retention_window_s` of steady heartbeats
    retention_events: int = 1_000_000
    retention_window_s: float = 3.0
    retention_windows: int = 10
    # P12: cross-replica feed latency (write on replica A, watcher on B); lasts `fanout_s`
    xr_rate: int = 500

    def scaled(self, **changes: object) -> BenchSettings:
        return replace(self, **changes)  # type: ignore[arg-type]


FULL = BenchSettings()

QUICK = FULL.scaled(
    label="quick",
    runs=1,
    duration_s=3.0,
    warmup_s=1.0,
    big_fleet=20_000,
    log_events=200_000,
    log_vms=2_000,
    retention_events=200_000,
    watchers=2_000,
    few_watchers=200,
    watch_rate=500,
    fanout_s=3.0,
    drain_s=3.0,
)

SMOKE = QUICK.scaled(
    label="smoke",
    duration_s=1.0,
    wrk_threads=1,
    connections=4,
    heartbeat_vms=20,
    role_vms=5,
    big_fleet=500,
    infra_vms=3,
    log_events=3_000,
    log_vms=50,
    retention_events=3_000,
    retention_window_s=1.0,
    retention_windows=4,
    watchers=20,
    few_watchers=5,
    watch_rate=100,
    xr_rate=50,
    fanout_s=1.0,
    idle_s=0.5,
    drain_s=2.0,
)
