"""The CLI as users run it: a subprocess, against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pytest

from tests.support.fixtures import shared_server_fixture
from vm_registry.cli.main import main

CLI = (sys.executable, "-m", "vm_registry.cli.main")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERS_")}
    env.update(extra or {})
    return env


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 20) -> Run:
    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=clean_env(env), timeout=timeout
    )
    return Run(done.returncode, done.stdout, done.stderr)


shared_server = shared_server_fixture("cli")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """The CLI's `main` in this process: the same code path as the console script, without a
    Python start-up per call. Subprocess tests cover what only a process shows (exit status,
    signals, streaming output)."""
    for name in [k for k in os.environ if k.startswith("VERS_")]:
        monkeypatch.delenv(name)

    def run(*args: str, env: Mapping[str, str] | None = None) -> Run:
        capsys.readouterr()
        with monkeypatch.context() as scoped:
            for name, value in (env or {}).items():
                scoped.setenv(name, value)
            try:
                code = main(list(args))
            except SystemExit as e:
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
