"""`serve`'s health-check flags: off by default, and a bad allow-list stops the server."""

from __future__ import annotations

import pytest

from vm_registry.cli.main import build_parser
from vm_registry.cli.serve import settings_from
from vm_registry.service.allow_list import DEFAULT_ALLOW
from vm_registry.settings import Settings


def settings(*argv: str) -> Settings:
    return settings_from(build_parser().parse_args(["serve", *argv]))


def test_health_checks_are_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VM_REGISTRY_HEALTH_CHECKS", raising=False)
    monkeypatch.delenv("VM_REGISTRY_HEALTH_CHECK_ALLOW", raising=False)
    found = settings()
    assert not found.health_checks
    assert found.health_check_allow == DEFAULT_ALLOW
    assert (found.check_interval, found.check_timeout, found.check_failures) == (30.0, 2.0, 2)


def test_the_allow_list_given_replaces_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VM_REGISTRY_HEALTH_CHECK_ALLOW", raising=False)
    found = settings("--health-checks", "--health-check-allow", "10.0.0.0/8")
    assert found.health_checks
    assert found.health_check_allow == ("10.0.0.0/8",)
    monkeypatch.setenv("VM_REGISTRY_HEALTH_CHECK_ALLOW", "*.fleet.internal, 10.1.0.0/16")
    assert settings().health_check_allow == ("*.fleet.internal", "10.1.0.0/16")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--health-check-allow", "not a host"], "--health-check-allow: 'not a host' is not"),
        (["--check-interval", "0"], "--check-interval must be positive"),
        (["--check-failures", "0"], "--check-failures must be positive"),
    ],
)
def test_bad_values_stop_serve_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        settings(*argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
