"""What the writer tells others about a committed batch: its subscribers, in the order given,
each on its own; and its observer, about each command and each batch."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.harness import Service
from tests.support.polling import eventually_async
from vm_registry.domain import commands as cmd
from vm_registry.domain.errors import Conflict, RegistryError
from vm_registry.domain.outcome import Outcome

DATA = {"name": "a", "role": "worker", "address": "a.vm.vers.sh", "registeredBy": "tests"}


async def test_subscribers_hear_each_batch_in_their_order_and_one_failing_stops_no_other(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[tuple[str, list[int]]] = []

    def first(outcomes: list[Outcome]) -> None:
        heard.append(("first", [o.event.seq for o in outcomes]))

    def failing(outcomes: list[Outcome]) -> None:
        raise RuntimeError("a subscriber's own trouble")

    def last(outcomes: list[Outcome]) -> None:
        heard.append(("last", [o.event.seq for o in outcomes]))

    service.writer.subscribers = [first, failing, last]
    registered = await service.execute(cmd.Register("vm-1", DATA))  # durable, so answered
    await service.execute(cmd.Heartbeat("vm-1"))
    assert registered.event.seq == 1
    assert heard == [("first", [1]), ("last", [1]), ("first", [2]), ("last", [2])]
    assert "publishing committed events failed" in caplog.text
    assert service.registry.revision == 2


class Watcher:
    """An observer that writes down what it is told."""

    def __init__(self) -> None:
        self.told: list[Any] = []

    def command_submitted(self, command: cmd.Command) -> object:
        self.told.append(("submitted", type(command).__name__))
        return f"tag-{command.vm_id}"

    def command_refused(self, error: RegistryError) -> None:
        self.told.append(("refused", type(error).__name__))

    def batch_begins(self, tags: list[object]) -> object:
        self.told.append(("begins", tags))
        return "begun"

    def batch_ends(
        self, begun: object, size: int, seconds: float, committed: list[Outcome]
    ) -> None:
        assert seconds >= 0
        self.told.append(("ends", begun, size, [o.event.seq for o in committed]))


async def test_the_observer_hears_of_commands_and_batches_and_what_each_appended(
    service: Service,
) -> None:
    watcher = Watcher()
    service.writer.observer = watcher
    await service.execute(cmd.Register("vm-1", DATA))
    with pytest.raises(Conflict):
        await service.execute(cmd.Register("vm-1", DATA))
    assert watcher.told[:5] == [
        ("submitted", "Register"),
        ("begins", ["tag-vm-1"]),
        ("ends", "begun", 1, [1]),
        ("submitted", "Register"),
        ("begins", ["tag-vm-1"]),
    ]
    # The refusal is heard in the caller's task, the batch's end in the writer's: either first.
    await eventually_async(lambda: len(watcher.told) == 7, what="the second batch's end")
    assert sorted(watcher.told[5:], key=str) == [
        ("ends", "begun", 1, []),  # refused: nothing appended
        ("refused", "Conflict"),
    ]
