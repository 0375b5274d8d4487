"""The real service against a plain-dict model, under random commands.

Every answer (the entry a command returns, or the error it raises) and the whole resulting
registry are compared with the model after each step. Commands hit a small pool of ids, so
collisions are common, and a `batch` rule submits several at once so that they share one group
commit. After every step the log on disk is replayed into a fresh projection, which must equal
the live one; a `restart` rule reopens the service on the same file.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.domain.strategies import T0, clean_text, json_objects, services, update_data
from tests.service.harness import FakeClock, Service
from vm_registry.domain import commands as cmd
from vm_registry.domain.errors import Conflict, NotFound, RegistryError
from vm_registry.domain.model import ROLES, STATUSES, Entry
from vm_registry.persistence.store import open_store
from vm_registry.service.bootstrap import replay
from vm_registry.wire import bodies as wire_bodies

T = TypeVar("T")
IDS = ("vm-1", "vm-2", "ünï-3")
STALE_AFTER_MS = 10_000

bodies = st.fixed_dictionaries(
    {
        "name": clean_text,
        "role": st.sampled_from(ROLES),
        "address": clean_text,
        "registeredBy": clean_text,
    },
    optional={
        "status": st.sampled_from(STATUSES),
        "services": st.none() | services,
        "metadata": st.none() | json_objects,
    },
)
ids = st.sampled_from(IDS)
commands = st.one_of(
    st.tuples(st.just("register"), ids, bodies),
    st.tuples(st.just("update"), ids, update_data),
    st.tuples(st.just("heartbeat"), ids, st.just({})),
    st.tuples(st.just("deregister"), ids, st.just({})),
)


def visible(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "name": entry.name,
        "role": entry.role,
        "status": entry.status,
        "address": entry.address,
        "services": entry.services,
        "metadata": entry.metadata,
        "registeredBy": entry.registered_by,
        "registeredAt": entry.registered_at,
        "lastSeen": entry.last_seen,
        "revision": entry.revision,
    }


@dataclass(frozen=True)
class Success:
    seq: int
    entry: dict[str, Any] | None  # None once deregistered


Expected = type[RegistryError] | Success


class RegistryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="vm-registry-stateful-"))
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock(T0)
        self.service = self.run(Service(self.dir / "registry.db", self.clock, 10.0).start())
        # id -> entry as a user sees it; dict order is registration order.
        self.model: dict[str, dict[str, Any]] = {}
        self.revision = 0
        self.started_at = T0
        self.marked: set[str] = set()  # VMs the reaper has marked stale (the log says so)

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        try:
            self.run(self.service.stop())
        finally:
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- the model ---------------------------------------------------------------------------

    def expect(self, kind: str, vm_id: str, body: dict[str, Any]) -> Expected:
        """What the command should answer; applies it to the model."""
        now = self.clock.now
        current = self.model.get(vm_id)
        if kind == "register":
            if current is not None:
                return Conflict
            self.revision += 1
            self.model[vm_id] = {
                "id": vm_id,
                "name": body["name"],
                "role": body["role"],
                "status": body.get("status", "running"),
                "address": body["address"],
                "services": body.get("services"),
                "metadata": body.get("metadata"),
                "registeredBy": body["registeredBy"],
                "registeredAt": now,
                "lastSeen": now,
                "revision": self.revision,
            }
            return Success(self.revision, dict(self.model[vm_id]))
        if current is None:
            return NotFound
        self.revision += 1
        self.marked.discard(vm_id)  # a heartbeat or update ends the episode
        if kind == "deregister":
            del self.model[vm_id]
            return Success(self.revision, None)
        current.update(body)
        current.update(lastSeen=now, revision=self.revision)
        return Success(self.revision, dict(current))

    def command(self, kind: str, vm_id: str, body: dict[str, Any]) -> cmd.Command:
        if kind == "register":
            data = wire_bodies.registration({"id": vm_id, **body})
            return cmd.Register(data.pop("id"), data)
        if kind == "update":
            return cmd.Update(vm_id, wire_bodies.update(body))
        if kind == "heartbeat":
            return cmd.Heartbeat(vm_id)
        return cmd.Deregister(vm_id)

    def check_answer(self, expected: Expected, answer: Any) -> None:
        if isinstance(expected, Success):
            assert not isinstance(answer, BaseException), answer
            assert answer.event.seq == expected.seq
            assert (None if answer.entry is None else visible(answer.entry)) == expected.entry
        else:
            assert isinstance(answer, expected), answer

    # -- rules -------------------------------------------------------------------------------

    @rule(step=commands)
    def one_command(self, step: tuple[str, str, dict[str, Any]]) -> None:
        kind, vm_id, body = step
        command = self.command(kind, vm_id, body)
        expected = self.expect(kind, vm_id, body)
        try:
            answer: Any = self.run(self.service.execute(command))
        except RegistryError as error:
            answer = error
        self.check_answer(expected, answer)

    @rule(steps=st.lists(commands, min_size=2, max_size=6))
    def batch(self, steps: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Submitted together, so the writer decides them in one group commit, in order."""
        submitted = [self.command(kind, vm_id, body) for kind, vm_id, body in steps]
        expected = [self.expect(kind, vm_id, body) for kind, vm_id, body in steps]

        async def together() -> list[Any]:
            work = [self.service.execute(command) for command in submitted]
            return await asyncio.gather(*work, return_exceptions=True)

        answers = self.run(together())
        for want, got in zip(expected, answers, strict=True):
            self.check_answer(want, got)

    @rule(ms=st.integers(0, 12_000) | st.sampled_from([STALE_AFTER_MS, STALE_AFTER_MS + 1]))
    def time_passes(self, ms: int) -> None:
        """Time passes and the reaper looks: it marks every running VM silent for longer than
        the window (counting from startup at the earliest). The marks of one look take the next
        revisions in the order the reaper found them (least recently seen first; the model
        does not fix the order among VMs seen at the same moment)."""
        self.clock.now += ms
        self.run(self.service.reap())
        due = []
        for entry in self.model.values():
            quiet_since = max(entry["lastSeen"], self.started_at)
            silent = self.clock.now - quiet_since > STALE_AFTER_MS
            if entry["status"] == "running" and entry["id"] not in self.marked and silent:
                due.append(entry)
        found = self.service.state.entries
        due.sort(key=lambda entry: found[entry["id"]].revision)
        for entry in due:
            self.revision += 1
            entry["revision"] = self.revision
            self.marked.add(entry["id"])

    @rule(downtime=st.integers(0, 30_000))
    def restart(self, downtime: int) -> None:
        """Stop, let time pass while the registry is down, and start again on the same file."""
        self.run(self.service.stop())
        self.clock.now += downtime
        self.service = self.run(Service(self.service.db, self.clock, 10.0).start())
        self.started_at = self.clock.now

    # -- what must always hold ---------------------------------------------------------------

    def stale(self, entry: dict[str, Any]) -> bool:
        """Marked by the reaper, and past the startup grace (which covers marks from before a
        restart too)."""
        in_grace = self.clock.now < self.started_at + STALE_AFTER_MS
        return entry["status"] == "running" and entry["id"] in self.marked and not in_grace

    @invariant()
    def the_registry_shows_the_model_newest_first(self) -> None:
        registry = self.service.registry
        assert [visible(e) for e in registry.entries()] == list(reversed(self.model.values()))
        assert registry.revision == self.revision == self.service.log.head
        for vm_id in IDS:
            found = registry.get(vm_id)
            assert (None if found is None else visible(found)) == self.model.get(vm_id)

    @invariant()
    def filters_and_discover_leave_out_stale_vms(self) -> None:
        registry = self.service.registry
        newest_first = list(reversed(self.model.values()))
        running = [e["id"] for e in newest_first if e["status"] == "running" and not self.stale(e)]
        assert [e.id for e in registry.entries(status="running")] == running
        for status in ("paused", "stopped"):
            expected = [e["id"] for e in newest_first if e["status"] == status]
            assert [e.id for e in registry.entries(status=status)] == expected
        for role in ROLES:
            expected = [e["id"] for e in newest_first if e["role"] == role]
            assert [e.id for e in registry.entries(role=role)] == expected
            discovered = [e["id"] for e in newest_first if e["role"] == role and e["id"] in running]
            assert [e.id for e in registry.discover(role)] == discovered

    @invariant()
    def replaying_the_log_from_disk_gives_the_live_projection(self) -> None:
        async def replayed() -> Any:
            reader = await open_store(self.service.target, read_only=True)
            try:
                return await replay(reader.log)
            finally:
                await reader.close()

        assert self.run(replayed()) == self.service.state


RegistryMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    # The explain phase reruns failing cases under tracing, far too slowly with real SQLite.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
TestRegistry = RegistryMachine.TestCase
