"""Progress bars for long commands, drawn by rich on stderr.

Only on a terminal: piped or redirected, a command prints nothing but its result, so scripts
and logs stay clean. Small jobs (under `min_total` steps) draw nothing either, rather than
flash a bar for a moment. Used by `verify`, `replay`, `compact`, `backup` and `migrate`:

    with ProgressBar(total, "migrating") as bar:
        for done in ...:
            bar(done)          # or bar.advance(n)
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def stderr_console() -> Console:
    return Console(stderr=True)


class ProgressBar:
    def __init__(
        self,
        total: int | None,
        label: str,
        *,
        console: Console | None = None,
        min_total: int = 10_000,
    ) -> None:
        """`total=None` draws an open-ended bar (a pulse and the time elapsed)."""
        self.console = console or stderr_console()
        self.enabled = self.console.is_terminal and (total is None or total >= min_total)
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if self.enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,  # the bar goes once done; the command's result line stays
            )
            self._progress.start()
            self._task = self._progress.add_task(label, total=total)

    def __call__(self, done: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done)

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, steps)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
