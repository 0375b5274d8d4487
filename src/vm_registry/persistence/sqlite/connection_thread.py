"""Several statements in one trip to an aiosqlite connection's thread.

Every aiosqlite call is a round trip: a queue put, a wake-up of the connection's thread, and a
call back into the event loop through its self-pipe. The writer's group commit made four of
them per batch (BEGIN, the head, the rows, COMMIT), each costing the server tens of
microseconds of CPU, whatever the batch's size (docs/benchmarks.md, round 3). `in_thread` runs
one plain function on the connection's own `sqlite3.Connection`, in its thread, so a step of
several statements is one trip. It uses `Connection._execute`, which is how aiosqlite's own
methods reach the thread (unchanged since 0.17); the whole suite runs through it, so an
aiosqlite release without it fails every test at once rather than quietly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import aiosqlite

T = TypeVar("T")


async def in_thread(conn: aiosqlite.Connection, work: Callable[..., T], *args: Any) -> T:
    """`work(the sqlite3 connection, *args)`, run in `conn`'s thread; its result or its error."""
    raw: sqlite3.Connection = conn._conn
    execute: Callable[..., Awaitable[Any]] = conn._execute  # untyped in aiosqlite
    return cast(T, await execute(work, raw, *args))
