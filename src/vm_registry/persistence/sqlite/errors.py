"""SQLite's exceptions, translated at the edge into the store's own errors."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from vm_registry.persistence.errors import StoreCorrupt, StoreError, StoreUnavailable


def translate(error: sqlite3.Error, doing: str, path: Path) -> StoreError:
    text = str(error)
    if isinstance(error, sqlite3.DatabaseError) and (
        "malformed" in text or "not a database" in text
    ):
        # Refusing is right, and the operator needs to know what to run next.
        return StoreCorrupt(
            f"{doing}: {text}; check it with `vm-registry verify --db {path}`", reason=text
        )
    return StoreUnavailable(f"{doing}: {text}", reason=text)


@contextlib.contextmanager
def translated(doing: str, path: Path) -> Iterator[None]:
    """Run the block; an `sqlite3.Error` leaves it as a `StoreError`."""
    try:
        yield
    except sqlite3.Error as error:
        raise translate(error, doing, path) from error
