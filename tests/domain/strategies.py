"""Hypothesis strategies for the domain: JSON values, valid commands, and valid event logs.

Logs are generated the way the writer makes them, by deciding commands against the entries
so far, so every generated log is one the registry could really have written.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from vm_registry.domain import commands as cmd
from vm_registry.domain.commands import decide
from vm_registry.domain.errors import RegistryError
from vm_registry.domain.events import Event
from vm_registry.domain.fold import evolve
from vm_registry.domain.model import HEALTH_STATUSES, ROLES, STATUSES, Entry

# A few ids, so that generated commands collide: register a taken id, update a missing one.
VM_IDS = ("vm-1", "vm-2", "vm-3", "héllo wörld 🚀")
T0 = 1_795_000_000_000  # epoch ms, late 2026

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=6,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=3)

# Non-empty, already trimmed, no control characters: what validation lets through.
clean_text = (
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)
services = st.lists(
    st.fixed_dictionaries(
        {"name": clean_text, "port": st.integers(1, 65535)},
        optional={"healthPath": clean_text},
    ),
    max_size=2,
)


@st.composite
def registration_data(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": draw(clean_text),
        "role": draw(st.sampled_from(ROLES)),
        "status": draw(st.sampled_from(STATUSES)),
        "address": draw(clean_text),
        "registeredBy": draw(clean_text),
    }
    if draw(st.booleans()):
        data["services"] = draw(services)
    if draw(st.booleans()):
        data["metadata"] = draw(json_objects)
    return data


update_data = st.fixed_dictionaries(
    {},
    optional={
        "name": clean_text,
        "status": st.sampled_from(STATUSES),
        "address": clean_text,
        "services": st.none() | services,
        "metadata": st.none() | json_objects,
    },
).filter(bool)

vm_ids = st.sampled_from(VM_IDS)


def _mark_stale(vm_id: str) -> cmd.MarkStale:
    # The revision is filled in when the log is built: the reaper marks what it just saw.
    return cmd.MarkStale(vm_id, revision=-1)


def _record_health(vm_id: str, status: str, pick: int) -> cmd.RecordHealth:
    # The target is filled in when the log is built: the checker probes a service the VM has
    # (the `pick`-th checked one); a VM with none makes a command `decide` refuses.
    return cmd.RecordHealth(vm_id, "", status, f"probe said {status}", "", pick, "")


def _aim(command: cmd.RecordHealth, entry: Entry) -> cmd.RecordHealth:
    checked = [s for s in entry.services or () if "healthPath" in s]
    if not checked:
        return command
    service = checked[command.port % len(checked)]
    return cmd.RecordHealth(
        command.vm_id,
        service["name"],
        command.status,
        command.detail,
        entry.address,
        service["port"],
        service["healthPath"],
    )


commands: st.SearchStrategy[cmd.Command] = st.one_of(
    st.builds(cmd.Register, vm_ids, registration_data()),
    st.builds(cmd.Update, vm_ids, update_data),
    st.builds(cmd.Heartbeat, vm_ids),
    st.builds(cmd.Deregister, vm_ids),
    st.builds(_mark_stale, vm_ids),
    st.builds(_record_health, vm_ids, st.sampled_from(HEALTH_STATUSES), st.integers(0, 3)),
)
actors = st.fixed_dictionaries(
    {}, optional={"ip": st.sampled_from(["127.0.0.1", "::1"]), "userAgent": st.text(max_size=10)}
)


@st.composite
def event_logs(draw: st.DrawFn, max_commands: int = 20) -> list[Event]:
    """A log as the writer would produce it: gap-free seqs from 1, `at` never decreasing."""
    steps = draw(
        st.lists(st.tuples(commands, st.integers(0, 5_000), actors), max_size=max_commands)
    )
    entries: dict[str, Entry] = {}
    log: list[Event] = []
    at = T0
    for command, delay, actor in steps:
        at += delay
        current = entries.get(command.vm_id)
        if isinstance(command, cmd.MarkStale) and current is not None:
            command = cmd.MarkStale(command.vm_id, current.revision)
        if isinstance(command, cmd.RecordHealth) and current is not None:
            command = _aim(command, current)
        try:
            decision = decide(current, command)
        except RegistryError:
            continue
        event = Event(len(log) + 1, decision.type, command.vm_id, at, actor, decision.data)
        after = evolve(current, event)
        if after is None:
            entries.pop(command.vm_id, None)
        else:
            entries[command.vm_id] = after
        log.append(event)
    return log
