"""Three processes on one SQLite file: the replica suite, with SQLite's write lock as the global
lock (what `serve --workers N` runs on)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.replicas.cluster import Cluster, cluster
from tests.replicas.suite import ReplicaSuite


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("sqlite-replicas")
    with cluster(folder, str(folder / "registry.db")) as running:
        yield running


class TestSqliteReplicas(ReplicaSuite):
    pass
