from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.domain.strategies import T0
from tests.service.harness import FakeClock, Service


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """The real service on the suite's backend, its clock at T0, a 10 s stale window."""
    running = await Service(tmp_path / "registry.db", FakeClock(T0)).start()
    try:
        yield running
    finally:
        await running.stop()
