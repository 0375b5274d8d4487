"""`serve`'s option table: each flag has its environment twin, the flag wins over the
environment, and a malformed environment value is reported like a malformed flag."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
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


REFUSED_TWINS = [
    ("PORT", "eighty", "PORT='eighty' is not an integer"),
    ("VM_REGISTRY_STALE_AFTER", "nan", "VM_REGISTRY_STALE_AFTER: 'nan' is not a finite number"),
    ("VM_REGISTRY_HEADER_TIMEOUT", "inf", "'inf' is not a finite number"),
    # Choices were not checked at all: a traceback at startup, or (format) ignored.
    ("VM_REGISTRY_LOG_LEVEL", "loud", "VM_REGISTRY_LOG_LEVEL='loud' is not one of debug, info"),
    (
        "VM_REGISTRY_SYNCHRONOUS",
        "fast",
        "VM_REGISTRY_SYNCHRONOUS='fast' is not one of normal, full",
    ),
    ("VM_REGISTRY_LOG_FORMAT", "xml", "VM_REGISTRY_LOG_FORMAT='xml' is not one of json, text"),
    # A switch's unknown word was taken silently as on (guard) or off (the others).
    ("VM_REGISTRY_EXPIRY_GUARD", "disabled", "VM_REGISTRY_EXPIRY_GUARD='disabled' is neither on"),
    ("VM_REGISTRY_HEALTH_CHECKS", "enabled", "VM_REGISTRY_HEALTH_CHECKS='enabled' is neither on"),
    # --retain inf passed the positive check, then failed the start with a traceback.
    ("VM_REGISTRY_RETAIN", "inf", "VM_REGISTRY_RETAIN: 'inf' is longer than a century"),
    ("VM_REGISTRY_RETAIN", "1e300d", "'1e300d' is longer than a century"),
    ("VM_REGISTRY_RETAIN", "soon", "'soon' is not a duration such as 90s, 45m, 12h or 30d"),
    ("VM_REGISTRY_RETAIN_EVENTS", "many", "VM_REGISTRY_RETAIN_EVENTS='many' is not an integer"),
    (
        "VM_REGISTRY_CHECK_CONCURRENCY",
        "0",
        "VM_REGISTRY_CHECK_CONCURRENCY (the environment twin of --check-concurrency) must be",
    ),
]


@pytest.mark.parametrize(("name", "value", "message"), REFUSED_TWINS)
def test_a_malformed_environment_value_is_one_line_naming_it_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    args = parse()  # judged by serve alone, not by the parser every subcommand builds
    with pytest.raises(SystemExit) as exit_:
        settings_from(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vm-registry serve: "), err
    assert message in err


@pytest.mark.parametrize("word", ["on", "1", "true", "yes", "ON", " True "])
def test_a_switch_twin_takes_the_usual_words_for_on(
    monkeypatch: pytest.MonkeyPatch, word: str
) -> None:
    monkeypatch.setenv("VM_REGISTRY_METRICS_PUBLIC", word)
    monkeypatch.setenv("VM_REGISTRY_EXPIRY_GUARD", word)
    settings = settings_from(parse())
    assert settings.metrics_public is True
    assert settings.guard_enabled is True


@pytest.mark.parametrize("word", ["off", "0", "false", "no", "OFF", "False"])
def test_a_switch_twin_takes_the_usual_words_for_off(
    monkeypatch: pytest.MonkeyPatch, word: str
) -> None:
    monkeypatch.setenv("VM_REGISTRY_METRICS_PUBLIC", word)
    monkeypatch.setenv("VM_REGISTRY_EXPIRY_GUARD", word)  # "false" left the guard on
    settings = settings_from(parse())
    assert settings.metrics_public is False
    assert settings.guard_enabled is False


def test_a_flag_that_is_not_a_finite_number_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse("--stale-after", "nan")
    assert exit_.value.code == 2
    assert "'nan' is not a finite number" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["inf", "1e300d", "36501d"])
def test_a_retention_age_past_a_century_is_a_usage_error(value: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse("--retain", value)
    assert exit_.value.code == 2
    assert settings_from(parse("--retain", "36500d")).retain == 36500 * 86400


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
        # These had no check: a reap interval of 0 kept an idle server busy (a quarter of a
        # core), a share of 2 never trips the guard, port 99999 failed inside uvicorn.
        (["--reap-interval", "0"], "--reap-interval must be positive"),
        (["--keepalive", "-1"], "--keepalive must be positive"),
        (["--bookmark-after", "0"], "--bookmark-after must be positive"),
        (["--guard-max-hold", "0"], "--guard-max-hold must be positive"),
        (["--guard-share", "2"], "--guard-share must be a share, above 0 and at most 1"),
        (["--guard-share", "0"], "--guard-share must be a share, above 0 and at most 1"),
        (["--port", "99999"], "--port must be a port, 0 to 65535"),
        (["--snapshot-every", "-1"], "--snapshot-every must not be negative"),
        (["--header-timeout", "-1"], "--header-timeout must not be negative"),
        (["--body-timeout", "-1"], "--body-timeout must not be negative"),
        (["--feed-tail", "-1"], "--feed-tail must not be negative"),
        (["--max-subscribers", "-1"], "--max-subscribers must not be negative"),
        (["--guard-min-fleet", "-1"], "--guard-min-fleet must not be negative"),
    ],
)
def test_a_value_the_declaration_refuses_stops_serve(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        settings_from(parse(*argv))
    assert exit_.value.code == 2  # a usage error, as argparse's own (it was 1)
    assert capsys.readouterr().err == f"vm-registry serve: {message}\n"


def test_serve_with_a_bad_twin_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """As a subprocess: `VM_REGISTRY_LOG_LEVEL=loud` was a traceback from the logging setup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VM_REGISTRY_")}
    env["VM_REGISTRY_LOG_LEVEL"] = "loud"
    command = [
        sys.executable,
        "-m",
        "vm_registry.cli.main",
        "serve",
        "--db",
        str(tmp_path / "r.db"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (
        "vm-registry serve: VM_REGISTRY_LOG_LEVEL='loud' is not one of "
        "debug, info, warning, error, critical\n"
    )
    assert not (tmp_path / "r.db").exists()
