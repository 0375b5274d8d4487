"""`serve`'s option table: each flag has its environment twin, the flag wins over the
environment, and a malformed environment value is reported like a malformed flag."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from vm_registry.cli.main import build_parser
from vm_registry.cli.serve import settings_from
from vm_registry.cli.serve_flags import ROWS, add_flags, shown_default


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="serve")
    add_flags(parser)
    return parser.parse_args(argv)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for row in ROWS:
        if row.env:
            monkeypatch.delenv(row.env, raising=False)


def test_defaults_are_the_settings_defaults() -> None:
    settings = settings_from(parse())
    assert settings.port == 3000
    assert settings.db == "data/registry.db"
    assert settings.synchronous == "normal"
    assert settings.guard_enabled is True
    assert settings.cors_origins == ()
    assert settings.tokens_file is None
    assert settings.self_id is None


def test_a_postgresql_url_is_kept_whole() -> None:
    url = "postgresql://registry:secret@db.internal:5432/registry?sslmode=require"
    assert settings_from(parse("--db", url)).db == url  # a Path would fold its "//"
    assert settings_from(parse("--db", url, "--db-pool-size", "9")).db_pool_size == 9


def test_environment_twins_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "4100")
    monkeypatch.setenv("VM_REGISTRY_STALE_AFTER", "12.5")
    monkeypatch.setenv("VM_REGISTRY_SYNCHRONOUS", "FULL")
    monkeypatch.setenv("VM_REGISTRY_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("VM_REGISTRY_EXPIRY_GUARD", "off")
    monkeypatch.setenv("VM_REGISTRY_TOKENS_FILE", "/etc/tokens.toml")
    monkeypatch.setenv("VERS_VM_ID", "vm-7")
    settings = settings_from(parse())
    assert settings.port == 4100
    assert settings.stale_after == 12.5
    assert settings.synchronous == "full"
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.guard_enabled is False
    assert settings.tokens_file == Path("/etc/tokens.toml")
    assert settings.self_id == "vm-7"


def test_the_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "4100")
    monkeypatch.setenv("VM_REGISTRY_FEED_TAIL", "5")
    settings = settings_from(parse("--port", "4200", "--feed-tail", "7"))
    assert (settings.port, settings.feed_tail) == (4200, 7)


def test_repeatable_flags_add_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VM_REGISTRY_CORS_ORIGINS", "https://a.example")
    settings = settings_from(parse("--cors-origin", "https://c.example"))
    assert settings.cors_origins == ("https://a.example", "https://c.example")


def test_a_malformed_environment_value_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(SystemExit) as exit_:
        parse()
    assert exit_.value.code == 2
    assert "invalid int value: 'eighty'" in capsys.readouterr().err


def serve_help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    return capsys.readouterr().out


def test_every_setting_is_in_the_help_with_its_twin_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = " ".join(serve_help(capsys).split())  # argparse wraps lines
    for row in ROWS:
        if row.spec.internal:  # a worker's index and socket
            continue
        assert (row.flag or row.env) in text
        if row.env:
            assert row.env in text
        shown = shown_default(row)
        if shown is not None:
            assert f"default: {shown}" in text
    assert "--port N port to listen on (PORT; default: 3000)" in text


def test_settings_without_a_flag_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VERS_AUTH_TOKEN", "s3cret")
    monkeypatch.setenv("VM_REGISTRY_TOKENS", "[[token]]")
    settings = settings_from(parse())
    assert (settings.auth_token, settings.tokens_env) == ("s3cret", "[[token]]")


def test_every_flag_has_an_environment_twin_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VM_REGISTRY_REAP_INTERVAL", "2.5")
    monkeypatch.setenv("VM_REGISTRY_GUARD_MAX_HOLD", "60")
    monkeypatch.setenv("VM_REGISTRY_METRICS_PUBLIC", "on")
    monkeypatch.setenv("VM_REGISTRY_LOG_LEVEL", "WARNING")
    settings = settings_from(parse())
    assert (settings.reap_interval, settings.guard_max_seconds) == (2.5, 60.0)
    assert settings.metrics_public is True
    assert settings.log_level == "warning"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stale-after", "0"], "--stale-after must be positive"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--min-revision-wait", "-1"], "--min-revision-wait must not be negative"),
        (["--feed-tail-bytes", "0"], "--feed-tail-bytes must be at least 1"),
        (["--db-pool-size", "0"], "--db-pool-size must be positive"),
    ],
)
def test_a_value_the_declaration_refuses_stops_serve(argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit, match=f"vm-registry serve: {message}"):
        settings_from(parse(*argv))
