"""Every subcommand and every flag of `vm-registry` says what it is for: a parser walked here
that has a subcommand without help, a subcommand without a description, or a flag without help
fails."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from importlib.metadata import version

import pytest

from vm_registry.cli.main import build_parser


def subparsers_of(parser: argparse.ArgumentParser) -> Iterator[argparse._SubParsersAction]:  # type: ignore[type-arg]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield action


def walk(
    parser: argparse.ArgumentParser, path: str
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for group in subparsers_of(parser):
        for name, child in group.choices.items():
            yield from walk(child, f"{path} {name}")


def test_every_subcommand_and_flag_has_help() -> None:
    missing: list[str] = []
    for path, parser in walk(build_parser(), "vm-registry"):
        if path != "vm-registry" and not parser.description:
            missing.append(f"{path}: no description")
        for group in subparsers_of(parser):
            listed = {choice.dest for choice in group._choices_actions}
            for name in group.choices:
                if name not in listed:
                    missing.append(f"{path} {name}: no help in the list of commands")
            for choice in group._choices_actions:
                if not choice.help:
                    missing.append(f"{path} {choice.dest}: no help in the list of commands")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue
            if not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}: no help")
    assert not missing, "\n".join(missing)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"vm-registry {version('vm-registry')}"
