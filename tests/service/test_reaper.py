"""The reaper's decisions, on a clock the test controls: which VMs get `vm.stale`, and when the
mass-expiry guard holds and lets go. The server tests show the same rules end to end; here the
timing corner cases are exact."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from vm_registry.domain import events as ev
from vm_registry.domain.commands import MarkStale
from vm_registry.domain.errors import Conflict
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply
from vm_registry.service.reaper import GuardPolicy, Reaper
from vm_registry.service.registry import Registry

WINDOW = 1_000  # ms
TICK = 100  # ms


class Fleet:
    """The parts of the registry the reaper reads and writes, with a hand-driven clock."""

    def __init__(self) -> None:
        self.state = State()
        self.stale_after_ms = WINDOW
        self.started_at = 0
        self.now = 0
        self.staleness_suspended = False
        self.marked: list[str] = []

    def clock(self) -> int:
        return self.now

    def quiet_since(self, entry: Any) -> int:
        return max(entry.last_seen, self.started_at)

    def _append(self, kind: str, vm_id: str, data: dict[str, Any] | None = None) -> None:
        apply(self.state, Event(self.state.revision + 1, kind, vm_id, self.now, {}, data or {}))

    def register(self, *vm_ids: str) -> None:
        for vm_id in vm_ids:
            data = {"name": vm_id, "role": "worker", "address": "a", "registeredBy": "t"}
            self._append(ev.REGISTERED, vm_id, data)

    def beat(self, *vm_ids: str) -> None:
        for vm_id in vm_ids:
            self._append(ev.HEARTBEAT, vm_id)

    @property
    def running(self) -> int:
        return self.state.running

    def awake(self) -> Iterator[Any]:
        return (self.state.entries[vm_id] for vm_id in self.state.by_activity)

    async def execute(self, command: MarkStale, actor: dict[str, Any]) -> None:
        entry = self.state.entries[command.vm_id]
        if entry.revision != command.revision or entry.stale:
            raise Conflict("touched since")
        self._append(ev.STALE, command.vm_id)
        self.marked.append(command.vm_id)


def reaper(fleet: Fleet, **policy: Any) -> Reaper:
    return Reaper(cast(Registry, fleet), TICK / 1000, GuardPolicy(**policy))


async def run_until(fleet: Fleet, the_reaper: Reaper, moment: int) -> None:
    """Tick every TICK ms up to `moment`, as the reaper's task would."""
    while fleet.now + TICK <= moment:
        fleet.now += TICK
        await the_reaper.tick()


def ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


async def test_a_silent_vm_is_marked_once_after_the_window() -> None:
    fleet = Fleet()
    fleet.register("a")
    the_reaper = reaper(fleet)
    await run_until(fleet, the_reaper, WINDOW)
    assert fleet.marked == []
    await run_until(fleet, the_reaper, 3 * WINDOW)
    assert fleet.marked == ["a"]


async def test_time_before_the_server_started_does_not_count() -> None:
    fleet = Fleet()
    fleet.register("a")
    fleet.now = fleet.started_at = 10 * WINDOW  # a restart, long after the VM's last heartbeat
    the_reaper = reaper(fleet)
    await run_until(fleet, the_reaper, fleet.started_at + WINDOW)
    assert fleet.marked == []
    await run_until(fleet, the_reaper, fleet.started_at + WINDOW + TICK)
    assert fleet.marked == ["a"]


async def test_a_fleet_silent_at_one_moment_trips_the_guard_whatever_the_tick_phase() -> None:
    fleet = Fleet()
    early, late = ids("early", 5), ids("late", 5)
    fleet.register(*early)
    fleet.now = 30
    fleet.register(*late)  # 30 ms later: one tick sees the first five overdue, not the rest
    the_reaper = reaper(fleet)
    await run_until(fleet, the_reaper, 3 * WINDOW)
    assert fleet.marked == []
    assert fleet.staleness_suspended


async def test_a_small_fleet_is_never_guarded() -> None:
    fleet = Fleet()
    fleet.register(*ids("vm", 9))
    the_reaper = reaper(fleet)
    await run_until(fleet, the_reaper, 2 * WINDOW)
    assert sorted(fleet.marked) == ids("vm", 9)
    assert not fleet.staleness_suspended


async def test_the_guard_lets_go_when_heartbeats_resume_and_the_silent_go_stale() -> None:
    fleet = Fleet()
    fleet.register(*ids("vm", 10))
    the_reaper = reaper(fleet)
    await run_until(fleet, the_reaper, 2 * WINDOW)
    assert fleet.staleness_suspended and fleet.marked == []

    back = ids("vm", 10)[4:]
    fleet.beat(*back)
    await run_until(fleet, the_reaper, fleet.now + TICK)
    assert not fleet.staleness_suspended
    assert sorted(fleet.marked) == ids("vm", 4)


async def test_the_guard_lets_go_after_its_time_limit_and_can_trip_again_later() -> None:
    fleet = Fleet()
    fleet.register(*ids("vm", 10))
    the_reaper = reaper(fleet, max_hold_ms=3 * WINDOW)
    tripped_at = WINDOW + TICK  # the first tick that sees them overdue
    await run_until(fleet, the_reaper, tripped_at)
    assert fleet.staleness_suspended
    await run_until(fleet, the_reaper, tripped_at + 3 * WINDOW - TICK)
    assert fleet.marked == []
    await run_until(fleet, the_reaper, tripped_at + 3 * WINDOW + TICK)
    assert not fleet.staleness_suspended
    assert sorted(fleet.marked) == ids("vm", 10)

    # The fleet comes back, then goes silent at once again: the guard protects it again.
    fleet.beat(*ids("vm", 10))
    await run_until(fleet, the_reaper, fleet.now + 3 * WINDOW)
    assert fleet.staleness_suspended
    assert len(fleet.marked) == 10


async def test_with_the_guard_off_everything_silent_goes_stale() -> None:
    fleet = Fleet()
    fleet.register(*ids("vm", 20))
    the_reaper = reaper(fleet, enabled=False)
    await run_until(fleet, the_reaper, 2 * WINDOW)
    assert sorted(fleet.marked) == sorted(ids("vm", 20))
    assert not fleet.staleness_suspended


async def test_a_pass_touches_the_overdue_vms_and_one_more_not_the_fleet() -> None:
    fleet = Fleet()
    fleet.register(*ids("quiet", 3))
    fleet.now = WINDOW // 2
    fleet.register(*ids("busy", 5_000))
    the_reaper = reaper(fleet, enabled=False)
    fleet.now = WINDOW + TICK  # past the window for the three quiet ones only
    await the_reaper.tick()
    assert sorted(fleet.marked) == ids("quiet", 3)
    assert the_reaper.examined == 4
    await the_reaper.tick()  # marked VMs leave the index: the next pass looks at one VM
    assert the_reaper.examined == 1
    fleet.beat(*ids("busy", 5_000))
    fleet.now = 2 * WINDOW + 2 * TICK  # everyone went quiet, in the order of their beats
    await the_reaper.tick()
    assert len(fleet.marked) == 5_003
