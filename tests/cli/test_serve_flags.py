"""`serve`'s option table: each flag has its environment twin, the flag wins over the
environment, and a malformed environment value is reported like a malformed flag."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from vm_registry.cli.serve import settings_from
from vm_registry.cli.serve_flags import FLAGS, add_flags


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="serve")
    add_flags(parser)
    return parser.parse_args(argv)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for row in FLAGS:
        if row.env:
            monkeypatch.delenv(row.env, raising=False)


def test_defaults_are_the_settings_defaults() -> None:
    settings = settings_from(parse())
    assert settings.port == 3000
    assert settings.db == "data/registry.db"
    assert settings.synchronous == "NORMAL"
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
    assert settings.synchronous == "FULL"
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


def test_every_environment_twin_is_named_in_the_help() -> None:
    parser = argparse.ArgumentParser(prog="serve")
    add_flags(parser)
    text = parser.format_help()
    for row in FLAGS:
        if row.help == argparse.SUPPRESS:  # internal (a worker's index and socket)
            continue
        assert row.flag in text
        if row.env:
            assert row.env in text
