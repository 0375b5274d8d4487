from __future__ import annotations

from pathlib import Path

import pytest

from tests.persistence.contract import EventStoreContract, StoreFactory
from vm_registry.persistence.sqlite import SqliteEventStore


class TestSqliteEventStore(EventStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> StoreFactory:
        def make(*, read_only: bool = False) -> SqliteEventStore:
            return SqliteEventStore(tmp_path / "events.db", read_only=read_only)

        return make
