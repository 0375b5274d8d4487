"""Writer clients that drive a real server at full speed and keep a ledger of what it promised.

Each thread owns its own ids, so it knows exactly which VMs exist as long as every answer
arrives. The first transport error (the server was killed) ends the thread: the write in flight
at that moment is recorded as *unknown* (it may or may not have been committed), and nothing
after it is attempted. Everything in `acks` got a 2xx, so it must survive anything.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

REGISTERED = "vm.registered"
UPDATED = "vm.updated"
HEARTBEAT = "vm.heartbeat"
DEREGISTERED = "vm.deregistered"


@dataclass(frozen=True, slots=True)
class Write:
    type: str
    vm_id: str
    name: str | None = None  # the name a registration or update set
    seq: int | None = None  # the revision the server acknowledged; None while unknown


@dataclass(slots=True)
class Ledger:
    acks: list[Write] = field(default_factory=list)
    unknown: list[Write] = field(default_factory=list)  # in flight when the connection broke
    statuses: dict[int, int] = field(default_factory=dict)  # every status seen, with counts
    failures: list[str] = field(default_factory=list)  # answers a correct server never gives
    lock: threading.Lock = field(default_factory=threading.Lock)

    def merge(self, other: Ledger) -> None:
        self.acks.extend(other.acks)
        self.unknown.extend(other.unknown)
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.failures.extend(other.failures)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


class Writers:
    """`threads` clients, each registering, updating, heartbeating and deleting its own VMs."""

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        threads: int = 4,
        seed: int = 0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.headers = dict(headers or {})
        self.ledger = Ledger()
        self.acked = 0  # acknowledged so far, across threads (read while they run)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n, seed * 1000 + n), daemon=True)
            for n in range(threads)
        ]

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_for_acks(self, count: int, timeout: float = 30.0) -> None:
        """Until `count` writes were acknowledged: on a busy machine a fixed sleep may end
        before the server has answered anything, and such a round proves nothing."""
        deadline = time.monotonic() + timeout
        while self.acked < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.acked >= count, f"only {self.acked} writes acknowledged in {timeout} s"

    def stop(self, timeout: float = 20.0) -> Ledger:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
            assert not thread.is_alive(), "a writer client hung"
        return self.ledger

    def _run(self, number: int, seed: int) -> None:
        rng = random.Random(seed)
        live: list[str] = []
        made = 0
        local = Ledger()
        with httpx.Client(base_url=self.url, timeout=15, headers=self.headers) as http:
            while not self._stop.is_set():
                roll = rng.random()
                if not live or roll < 0.3:
                    made += 1
                    vm_id = f"{self.prefix}t{number}-{made}"
                    write = Write(REGISTERED, vm_id, f"{vm_id}-v0")
                    body = {
                        "id": vm_id,
                        "name": write.name,
                        "role": rng.choice(("worker", "lieutenant", "custom")),
                        "address": f"{vm_id}.vm.vers.sh",
                        "registeredBy": "kill-test",
                        "metadata": {"thread": number, "n": made},
                    }
                    method, path, expected = "POST", "/registry/vms", 201
                else:
                    vm_id = rng.choice(live)
                    if roll < 0.55:
                        write = Write(UPDATED, vm_id, f"{vm_id}-v{rng.randrange(10**6)}")
                        method, path, expected = "PATCH", f"/registry/vms/{vm_id}", 200
                        body = {"name": write.name, "status": rng.choice(("running", "paused"))}
                    elif roll < 0.85:
                        write = Write(HEARTBEAT, vm_id)
                        method, path, expected = "POST", f"/registry/vms/{vm_id}/heartbeat", 200
                        body = None
                    else:
                        write = Write(DEREGISTERED, vm_id)
                        method, path, expected = "DELETE", f"/registry/vms/{vm_id}", 200
                        body = None
                try:
                    response = http.request(method, path, json=body)
                except httpx.TransportError:
                    local.unknown.append(write)
                    break
                status = response.status_code
                local.statuses[status] = local.statuses.get(status, 0) + 1
                if status == expected:
                    ack = Write(write.type, vm_id, write.name, int(response.json()["revision"]))
                    local.acks.append(ack)
                    with self.ledger.lock:
                        self.acked += 1
                    if write.type == REGISTERED:
                        live.append(vm_id)
                    elif write.type == DEREGISTERED:
                        live.remove(vm_id)
                else:
                    local.failures.append(f"{method} {path} -> {status} {response.text[:200]}")
        with self.ledger.lock:
            self.ledger.merge(local)
