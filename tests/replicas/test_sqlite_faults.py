"""Faults of several processes on one SQLite file (what `serve --workers N` runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.replicas.faults import FaultSuite


class TestSqliteFaults(FaultSuite):
    @pytest.fixture
    def target(self, tmp_path: Path) -> str:
        return str(tmp_path / "registry.db")
