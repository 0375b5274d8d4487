"""One guarded server for the security tests: every kind of token configured at once, debug
logging (the most a log could ever leak), and CORS allowed for one origin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server import ServerProcess

ADMIN_SECRET = "legacy-admin-secret-a1b2c3"  # VERS_AUTH_TOKEN: today's single token
SECRETS = {
    "root": "root-secret-7f3a9c0d",
    "fleet": "fleet-secret-51d2e8aa",
    "other": "other-secret-c40b77ee",
    "dash": "dash-secret-9e61aa42",
}
SCOPES = {"root": "admin", "fleet": "agent", "other": "agent", "dash": "read"}
ALLOWED_ORIGIN = "https://dash.example"


def bearer(name: str) -> dict[str, str]:
    secret = ADMIN_SECRET if name == "admin" else SECRETS[name]
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="package")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tokens = ";".join(f"{name}:{SCOPES[name]}:{secret}" for name, secret in SECRETS.items())
    server = ServerProcess(
        tmp_path_factory.mktemp("guarded") / "registry.db",
        args=["--log-level", "debug", "--cors-origin", ALLOWED_ORIGIN, "--keepalive", "0.5"],
        env={"VERS_AUTH_TOKEN": ADMIN_SECRET, "VM_REGISTRY_TOKENS": tokens},
    ).start()
    try:
        yield server
    finally:
        server.kill()
