from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.persistence.contract import RawSql, StoreContract, StoreFactory
from tests.persistence.contract_id_tables import IdTablesContract
from tests.support import postgres
from vm_registry.persistence.store import Store, open_store


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres.fresh_database("contract") as url:
        yield url


class TestPostgresStore(StoreContract, IdTablesContract):
    @pytest.fixture
    async def make_store(self, database: str) -> AsyncIterator[StoreFactory]:
        await postgres.reset(database)

        async def make(*, read_only: bool = False) -> Store:
            return await open_store(database, read_only=read_only)

        yield make

    @pytest.fixture
    def make_unreachable(self) -> StoreFactory:
        async def make(*, read_only: bool = False) -> Store:
            # Nothing listens on port 1 of the loopback: refused at once.
            return await open_store("postgresql://postgres@127.0.0.1:1/test", read_only=read_only)

        return make

    @pytest.fixture
    def raw_sql(self, database: str) -> RawSql:
        async def run(sql: str) -> None:
            await postgres.execute(database, sql)

        return run


async def test_the_size_keeps_its_last_figure_when_the_database_cannot_answer(
    database: str,
) -> None:
    await postgres.reset(database)
    store = await open_store(database)
    await store.measure_bytes()
    measured = store.bytes_on_disk()
    assert measured is not None and measured > 0
    await store.close()
    # Closed: every query fails. The scrape still renders, with the last figure it had.
    await store.measure_bytes()
    assert store.bytes_on_disk() == measured
