"""External parts some tests need (a PostgreSQL server, Chromium, nginx).

On a developer's machine a missing part skips the test with a reason that says what to
install. In CI (`VM_REGISTRY_CI=1`, set by `.ci/run`) the same absence fails the test: CI must
never pass by skipping what it was meant to prove.
"""

from __future__ import annotations

import os
import shutil
import socket
from typing import NoReturn
from urllib.parse import urlsplit

import pytest

IN_CI = os.environ.get("VM_REGISTRY_CI") == "1"

# The shared server every machine of this project runs; a test never stops it (tests that
# must stop PostgreSQL start a throwaway cluster of their own).
POSTGRES_URL = os.environ.get(
    "VM_REGISTRY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def missing(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"CI requires this, but: {reason}", pytrace=False)
    pytest.skip(reason)


def postgres_url() -> str:
    parts = urlsplit(POSTGRES_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2).close()
    except OSError as error:
        missing(f"no PostgreSQL server at {parts.hostname}:{parts.port} ({error})")
    return POSTGRES_URL


def executable(name: str, *candidates: str, install: str) -> str:
    for candidate in (name, *candidates):
        found = shutil.which(candidate)
        if found:
            return found
    missing(f"{name} is not installed ({install})")


def chromium() -> str:
    return executable("chromium", "chromium-browser", install="apt-get install chromium")


def nginx() -> str:
    return executable("nginx", "/usr/sbin/nginx", install="apt-get install nginx")
