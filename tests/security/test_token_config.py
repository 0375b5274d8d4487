"""A token configuration the server cannot be sure of stops it at startup, with a message that
names the bad entry and never echoes a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.server import free_port

SECRET = "a-perfectly-long-secret"


@dataclass(frozen=True)
class Case:
    env: dict[str, str] = field(default_factory=dict)
    toml: str | bytes | None = None  # written to a file and passed with --tokens
    says: tuple[str, ...] = ()


CASES = {
    "unknown scope": Case(
        env={"VM_REGISTRY_TOKENS": f"ops:superuser:{SECRET}"},
        says=("VM_REGISTRY_TOKENS entry #1", "scope 'superuser'", "admin, agent, read"),
    ),
    "short secret": Case(
        env={"VM_REGISTRY_TOKENS": f"ops:admin:{SECRET};ci:agent:short"},
        says=("VM_REGISTRY_TOKENS entry #2", "token 'ci'", "too short"),
    ),
    "shared secret": Case(
        env={"VM_REGISTRY_TOKENS": f"ops:admin:{SECRET};ci:agent:{SECRET}"},
        says=("entry #2", "share one secret"),
    ),
    # Issue #11, 6: ownership follows the name, so B could delete A's VMs.
    "shared name": Case(
        env={"VM_REGISTRY_TOKENS": f"fleet:agent:{SECRET}A;fleet:agent:{SECRET}B"},
        says=("VM_REGISTRY_TOKENS entry #2", "'fleet'", "entry #1", "name of its own"),
    ),
    "shared name across the file and the environment": Case(
        env={"VM_REGISTRY_TOKENS": f"fleet:read:{SECRET}B"},
        toml=f'[[token]]\nname = "fleet"\nscope = "agent"\nsecret = "{SECRET}A"\n',
        says=("VM_REGISTRY_TOKENS entry #1", "'fleet'", "tokens.toml token #1"),
    ),
    "the admin token's name": Case(
        env={"VERS_AUTH_TOKEN": f"{SECRET}A", "VM_REGISTRY_TOKENS": f"admin:agent:{SECRET}B"},
        says=("VM_REGISTRY_TOKENS entry #1", "'admin'", "VERS_AUTH_TOKEN"),
    ),
    "a secret shared with the admin token": Case(
        env={"VERS_AUTH_TOKEN": SECRET, "VM_REGISTRY_TOKENS": f"ci:agent:{SECRET}"},
        says=("entry #1", "share one secret"),
    ),
    "no secret": Case(
        env={"VM_REGISTRY_TOKENS": "ops:admin:"},
        says=("entry #1", "too short"),
    ),
    "bad toml": Case(toml='[[token]\nname = "ops"', says=("tokens.toml",)),
    "missing secret_env": Case(
        toml='[[token]]\nname = "ops"\nscope = "admin"\nsecret_env = "NOT_SET_ANYWHERE"\n',
        says=("tokens.toml token #1", "needs a name and a secret"),
    ),
    "toml unknown scope": Case(
        toml=f'[[token]]\nname = "ops"\nscope = "root"\nsecret = "{SECRET}"\n',
        says=("tokens.toml token #1", "scope 'root'"),
    ),
    # These were tracebacks (a UnicodeDecodeError, an AttributeError, a TypeError).
    "toml not UTF-8": Case(
        toml=b'[[token]]\nname = "ops\xff"\nscope = "admin"\nsecret = "' + SECRET.encode() + b'"\n',
        says=("tokens.toml: not UTF-8 text",),
    ),
    "token a table, not an array of tables": Case(
        toml=f'[token]\nname = "ops"\nscope = "admin"\nsecret = "{SECRET}"\n',
        says=("tokens.toml: each token must be a [[token]] table",),
    ),
    "token a string": Case(toml='token = "ops"\n', says=("each token must be a [[token]] table",)),
    "secret_env not a string": Case(
        toml='[[token]]\nname = "ops"\nscope = "admin"\nsecret_env = 5\n',
        says=("tokens.toml token #1: secret_env must be a string",),
    ),
    "secret not a string": Case(
        toml='[[token]]\nname = "ops"\nscope = "admin"\nsecret = 123456789012\n',
        says=("tokens.toml token #1: secret must be a string",),
    ),
}


def serve(tmp: Path, case: Case) -> subprocess.CompletedProcess[str]:
    args = ["--port", str(free_port()), "--db", str(tmp / "registry.db")]
    if case.toml is not None:
        raw = case.toml if isinstance(case.toml, bytes) else case.toml.encode()
        (tmp / "tokens.toml").write_bytes(raw)
        args += ["--tokens", str(tmp / "tokens.toml")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERS_", "VM_REGISTRY_"))}
    return subprocess.run(
        [sys.executable, "-m", "vm_registry.cli.main", "serve", *args],
        env=env | case.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    # Each refusal costs an interpreter start; run them side by side.
    def run(name: str) -> subprocess.CompletedProcess[str]:
        return serve(tmp_path_factory.mktemp(name.replace(" ", "-")), CASES[name])

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


@pytest.mark.parametrize("name", CASES)
def test_a_bad_token_configuration_refuses_to_start(
    outcomes: dict[str, subprocess.CompletedProcess[str]], name: str
) -> None:
    done = outcomes[name]
    assert done.returncode != 0, f"the server started:\n{done.stderr}"
    message = done.stderr + done.stdout
    for words in CASES[name].says:
        assert words in message, message
    assert SECRET not in message
    assert "Traceback" not in message
    assert "Uvicorn running" not in message
