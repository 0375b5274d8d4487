"""The configuration tables of README.md and docs/ are rendered from the settings' declarations
(ops/settings_table.py): a flag, twin or default changed in `settings.py` and not in a page
fails here."""

from __future__ import annotations

import pytest
from ops.settings_table import BEGIN, END, README, main, pages, table, with_tables

from vm_registry.cli.serve_flags import ROWS


def test_the_readme_table_is_the_declarations() -> None:
    text = README.read_text()
    assert text[text.index(BEGIN) : text.index(END) + len(END)] == table(), (
        "README.md's settings table is stale: run python -m ops.settings_table"
    )


def test_every_table_in_the_docs_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0, capsys.readouterr().out
    assert any("settings table for" in page.read_text() for page in pages())


def test_every_setting_has_a_row() -> None:
    rendered = table()
    for row in ROWS:
        if not row.spec.internal:
            assert f"`{row.env}`" in rendered if row.env else f"`{row.flag}" in rendered


def test_a_drifted_row_is_caught() -> None:
    drifted = README.read_text().replace("| `3000` |", "| `8080` |")
    assert with_tables(drifted) != drifted
    health = (README.parent / "docs" / "health.md").read_text()
    drifted = health.replace("| `30` |", "| `60` |")
    assert with_tables(drifted) != drifted
