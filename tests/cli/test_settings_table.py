"""The README's configuration table is rendered from the settings' declarations
(ops/settings_table.py): a flag, twin or default changed in `settings.py` and not in the README
fails here."""

from __future__ import annotations

from ops.settings_table import BEGIN, END, README, table, with_table

from vm_registry.cli.serve_flags import ROWS


def test_the_readme_table_is_the_declarations() -> None:
    text = README.read_text()
    assert text[text.index(BEGIN) : text.index(END) + len(END)] == table(), (
        "README.md's settings table is stale: run python -m ops.settings_table"
    )


def test_every_setting_has_a_row() -> None:
    rendered = table()
    for row in ROWS:
        if not row.spec.internal:
            assert f"`{row.env}`" in rendered if row.env else f"`{row.flag}" in rendered


def test_a_drifted_row_is_caught() -> None:
    drifted = with_table(README.read_text()).replace("| `3000` |", "| `8080` |")
    assert with_table(drifted) != drifted
