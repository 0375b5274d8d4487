"""What a PostgreSQL failure tells clients: enough to act on, never where the database lives."""

from __future__ import annotations

import asyncpg
import pytest

from vm_registry.persistence.errors import StoreUnavailable
from vm_registry.persistence.postgres.errors import translate


@pytest.mark.parametrize(
    "error",
    [
        OSError("Multiple exceptions: [Errno 111] Connect call failed ('10.1.2.3', 6543)"),
        asyncpg.InvalidCatalogNameError('database "secret_fleet_db" does not exist'),
    ],
)
def test_an_unreachable_database_is_named_only_in_the_operators_log(error: Exception) -> None:
    translated = translate(error, "appending")
    assert isinstance(translated, StoreUnavailable)
    # The reason goes into 503 bodies and /health; the message goes to the log.
    assert translated.reason == "PostgreSQL is unreachable"
    assert str(error) in str(translated)
