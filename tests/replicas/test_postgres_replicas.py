"""Three replicas on one PostgreSQL database: the replica suite, with the head row's lock as
the global lock, LISTEN/NOTIFY plus polling to follow, and an advisory lock to lead."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.replicas.cluster import Cluster, cluster
from tests.replicas.suite import ReplicaSuite
from tests.support import postgres


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("postgres-replicas")
    with postgres.fresh_database("replicas") as url, cluster(folder, url) as running:
        yield running


class TestPostgresReplicas(ReplicaSuite):
    pass
