"""After start-up the replayed fleet is out of the cyclic collector's sight (`gc.freeze`), so a
full collection never walks it: with a large fleet, each one used to stall the event loop.
Checked in process, on the real app and a real log file."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from ops.bench.logs import fleet_log, write_log

from vm_registry.api import resources
from vm_registry.api.app import create_app
from vm_registry.service.runtime import Runtime
from vm_registry.settings import Settings

FLEET = 300


# Building the app in process (not in a server subprocess) shows litestar's deprecations of
# inferred dependencies and path parameters; they are not this test's subject.
@pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")
async def test_the_replayed_fleet_is_frozen_out_of_the_collector(tmp_path: Path) -> None:
    db = tmp_path / "fleet.db"
    await write_log(db, fleet_log(FLEET, 3, 1_000))
    app = create_app(Runtime(Settings(db=db)))
    gc.unfreeze()
    try:
        async with app.lifespan():
            entries = list(resources.of_app(app).runtime.registry.vms.values())
            assert len(entries) == FLEET
            assert gc.get_freeze_count() >= FLEET
            tracked = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
            assert not any(id(e) in tracked for e in entries)
    finally:
        gc.unfreeze()
