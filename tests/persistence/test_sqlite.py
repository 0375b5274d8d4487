from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.persistence.contract import RawSql, StoreContract, StoreFactory
from tests.persistence.contract_id_tables import IdTablesContract
from vm_registry.persistence.store import Store, open_store


class TestSqliteStore(StoreContract, IdTablesContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> StoreFactory:
        async def make(*, read_only: bool = False) -> Store:
            return await open_store(tmp_path / "events.db", read_only=read_only)

        return make

    @pytest.fixture
    def make_unreachable(self, tmp_path: Path) -> StoreFactory:
        (tmp_path / "a-file").write_text("not a folder")

        async def make(*, read_only: bool = False) -> Store:
            return await open_store(tmp_path / "a-file" / "events.db", read_only=read_only)

        return make

    @pytest.fixture
    def raw_sql(self, tmp_path: Path) -> RawSql:
        async def run(sql: str) -> None:
            with closing(sqlite3.connect(tmp_path / "events.db")) as conn, conn:
                conn.execute(sql)

        return run
