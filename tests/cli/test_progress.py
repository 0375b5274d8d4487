"""The rich progress bar `verify`, `replay`, `compact`, `backup` and `migrate` share."""

from __future__ import annotations

import io

from rich.console import Console

from vm_registry.cli.progress import ProgressBar


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=100), out


def test_on_a_terminal_it_draws_the_label_and_the_count() -> None:
    screen, out = console(terminal=True)
    with ProgressBar(200, "migrating", console=screen, min_total=0) as bar:
        bar(50)
        bar.advance(100)
        bar._progress.refresh()  # type: ignore[union-attr]  # draw now, not at the next tick
    drawn = out.getvalue()
    assert "migrating" in drawn
    assert "150/200" in drawn


def test_piped_or_small_it_draws_nothing() -> None:
    piped, out = console(terminal=False)
    with ProgressBar(10**6, "verifying", console=piped) as bar:
        bar(5)
    assert out.getvalue() == ""
    small, out = console(terminal=True)
    with ProgressBar(10, "verifying", console=small) as bar:  # under min_total
        bar(5)
    assert out.getvalue() == ""
