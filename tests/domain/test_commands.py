from __future__ import annotations

import pytest

from tests.domain.strategies import T0
from vm_registry.domain import commands as cmd
from vm_registry.domain import events as ev
from vm_registry.domain.commands import decide
from vm_registry.domain.errors import Conflict, NotFound, PreconditionFailed, RegistryError
from vm_registry.domain.model import Entry

ENTRY = Entry(
    id="vm-1",
    name="n",
    role="worker",
    status="running",
    address="a.example",
    services=None,
    metadata=None,
    registered_by="me",
    registered_at=T0,
    last_seen=T0,
    revision=5,
    created_seq=5,
)
CHECKED = ENTRY.replace(services=[{"name": "rpc", "port": 3001, "healthPath": "/health"}])
FAILING = cmd.RecordHealth("vm-1", "rpc", "critical", "HTTP 500", "a.example", 3001, "/health")
DATA = {"name": "n", "role": "worker", "status": "running", "address": "a", "registeredBy": "x"}


@pytest.mark.parametrize(
    ("entry", "command", "error", "message"),
    [
        (ENTRY, cmd.Register("vm-1", DATA), Conflict, "'vm-1' is already registered"),
        (None, cmd.Update("vm-1", {"name": "x"}), NotFound, "'vm-1' is not registered"),
        (None, cmd.Heartbeat("vm-1"), NotFound, "'vm-1' is not registered"),
        (None, cmd.Deregister("vm-1"), NotFound, "'vm-1' is not registered"),
        (None, cmd.MarkStale("vm-1", 5), NotFound, "'vm-1' is not registered"),
        (ENTRY, cmd.Update("vm-1", {"name": "x"}, if_match=4), PreconditionFailed, "revision 5"),
        (ENTRY, cmd.Deregister("vm-1", if_match=6), PreconditionFailed, "revision 5"),
        (ENTRY, cmd.MarkStale("vm-1", 4), Conflict, "touched since"),
        (ENTRY.replace(stale=True), cmd.MarkStale("vm-1", 5), Conflict, "touched since"),
        (ENTRY.replace(status="paused"), cmd.MarkStale("vm-1", 5), Conflict, "touched since"),
        (None, FAILING, NotFound, "'vm-1' is not registered"),
        (ENTRY, FAILING, Conflict, "changed its service 'rpc'"),
        (CHECKED.replace(address="b.example"), FAILING, Conflict, "changed its service"),
        (
            CHECKED.replace(services=[{"name": "rpc", "port": 3002, "healthPath": "/health"}]),
            FAILING,
            Conflict,
            "changed its service",
        ),
        (CHECKED.replace(status="stopped"), FAILING, Conflict, "is stopped"),
        (CHECKED.replace(health={"rpc": "critical"}), FAILING, Conflict, "already critical"),
    ],
)
def test_refused_commands(
    entry: Entry | None, command: cmd.Command, error: type[RegistryError], message: str
) -> None:
    with pytest.raises(error, match=message):
        decide(entry, command)


@pytest.mark.parametrize(
    ("entry", "command", "event_type", "data"),
    [
        (None, cmd.Register("vm-1", DATA), ev.REGISTERED, DATA),
        (ENTRY, cmd.Update("vm-1", {"name": "x"}), ev.UPDATED, {"name": "x"}),
        (ENTRY, cmd.Update("vm-1", {"name": "x"}, if_match=5), ev.UPDATED, {"name": "x"}),
        (ENTRY, cmd.Heartbeat("vm-1"), ev.HEARTBEAT, {}),
        (ENTRY, cmd.Deregister("vm-1", if_match=5), ev.DEREGISTERED, {}),
        (ENTRY, cmd.MarkStale("vm-1", 5), ev.STALE, {}),
        (
            CHECKED,
            FAILING,
            ev.HEALTH,
            {"service": "rpc", "status": "critical", "detail": "HTTP 500"},
        ),
        (
            CHECKED.replace(health={"rpc": "passing"}),
            FAILING,
            ev.HEALTH,
            {"service": "rpc", "status": "critical", "detail": "HTTP 500"},
        ),
    ],
)
def test_accepted_commands_become_their_event(
    entry: Entry | None, command: cmd.Command, event_type: str, data: dict[str, object]
) -> None:
    decision = decide(entry, command)
    assert (decision.type, decision.data) == (event_type, data)
