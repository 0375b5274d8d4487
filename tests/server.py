"""Moved to `tests/support/server.py`; this name stays importable for tests written against
it (several are in flight on other branches)."""

from tests.support.server import ServerProcess, free_port

__all__ = ["ServerProcess", "free_port"]
