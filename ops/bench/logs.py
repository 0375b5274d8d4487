"""Synthetic event logs, written through the registry's own storage API.

A fleet of 100,000 VMs or a log of a million events would take minutes to build over HTTP, and
the build is not what is measured. Writing through the log's own `locked()` appends in large batches
keeps the on-disk format exactly the server's own, hash chain and interning included.

The entries look like the ones agents register today (a UUID id, an address under
`vm.vers.sh`, one service, a small metadata object), so memory per VM is measured on realistic
entries rather than on minimal ones.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from vm_registry.domain.events import Event
from vm_registry.persistence.store import open_store

BATCH = 10_000
ACTOR: dict[str, Any] = {"ip": "127.0.0.1", "userAgent": "vm-registry-bench"}
# Roles of a fleet beyond its infra VMs, by share: mostly workers, as in a real deployment.
ROLE_MIX = ("worker",) * 16 + ("lieutenant",) * 2 + ("golden", "custom")


def uuid_like(index: int) -> str:
    return f"{index:08x}-7c1e-4b5a-9d2f-{index:012x}"


def registration(vm_id: str, role: str, at: int) -> Event:
    data = {
        "name": f"{role}-{vm_id[:8]}",
        "role": role,
        "status": "running",
        "address": f"{vm_id}.vm.vers.sh",
        "registeredBy": "orchestrator",
        "services": [{"name": "pi-rpc", "port": 3001}],
        "metadata": {"task": "bench"},
    }
    return Event(seq=0, type="vm.registered", vm_id=vm_id, at=at, actor=ACTOR, data=data)


def fleet_log(size: int, infra: int, start_ms: int) -> Iterator[Event]:
    """`size` registrations; the first `infra` are infra VMs, no other VM is."""
    for index in range(size):
        role = "infra" if index < infra else ROLE_MIX[index % len(ROLE_MIX)]
        yield registration(uuid_like(index), role, start_ms + index // 100)


def heartbeat_log(
    total: int, vms: int, heartbeat_share: float, start_ms: int, seed: int = 7
) -> Iterator[Event]:
    """`vms` registrations, then a stream in which `heartbeat_share` of all `total` events are
    heartbeats; the rest are updates and deregistrations each followed by a re-registration.
    """
    rng = random.Random(seed)
    ids = [uuid_like(index) for index in range(vms)]
    at = start_ms
    for index, vm_id in enumerate(ids):
        yield registration(vm_id, "infra" if index < 3 else ROLE_MIX[index % len(ROLE_MIX)], at)
    others = max(0, round(total * (1 - heartbeat_share)) - vms)
    churn = others // 4  # deregistration + re-registration pairs use half of the others
    updates = others - 2 * churn
    heartbeats = max(0, total - vms - others)
    kinds = ["u"] * updates + ["c"] * churn + ["h"] * heartbeats
    rng.shuffle(kinds)
    for position, kind in enumerate(kinds):
        at = start_ms + vms + position // 10  # about 10 events a millisecond, never decreasing
        vm_id = ids[rng.randrange(vms)]
        if kind == "h":
            yield Event(seq=0, type="vm.heartbeat", vm_id=vm_id, at=at, actor=ACTOR)
        elif kind == "u":
            status = "paused" if position % 3 == 0 else "running"
            data = {"status": status, "metadata": {"task": "bench", "step": position}}
            yield Event(seq=0, type="vm.updated", vm_id=vm_id, at=at, actor=ACTOR, data=data)
        else:
            yield Event(seq=0, type="vm.deregistered", vm_id=vm_id, at=at, actor=ACTOR)
            yield registration(vm_id, "worker", at)


async def write_log(path: Path, events: Iterable[Event]) -> int:
    store = await open_store(path)
    try:
        source = iter(events)
        while batch := list(islice(source, BATCH)):
            async with store.log.locked() as tx:
                head = tx.head
                await tx.append([e._replace(seq=head + i) for i, e in enumerate(batch, start=1)])
        return store.log.head
    finally:
        await store.close()


async def log_head(path: Path) -> int:
    store = await open_store(path, read_only=True)
    try:
        return store.log.head
    finally:
        await store.close()


def now_ms() -> int:
    return int(time.time() * 1000)
