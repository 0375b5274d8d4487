"""Noticing that the log file was deleted or replaced under a running server.

SQLite keeps writing to the file it opened. If that file is unlinked (`rm registry.db*`) or
another file is moved into its place, every commit still succeeds, into a file nobody will ever
open again: a restart finds an empty (or a different) log, and every write acknowledged since is
gone without a word. So the store remembers the file's identity (device and inode) when it
opens it, and checks the path against it before each append and again before acknowledging
it. Once the file is gone the store stays unavailable: writes answer 503, `/health` says why,
and the server log names the file. Only an operator can tell which file is the right one, so
nothing is reopened automatically.

The check is one `stat` per group commit. Only the main database file is watched: deleting the
`-wal` file alone loses the commits since the last checkpoint, as the backup notes in
docs/reliability.md say, but SQLite itself may legitimately recreate that file.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from vm_registry.persistence.errors import StoreUnavailable

log = logging.getLogger("vm_registry.store")


class LogFileIdentity:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._identity: tuple[int, int] | None = None
        self._existed = True
        self.problem: str | None = None  # set once the file is found gone; never cleared

    def before_open(self) -> None:
        self._existed = self.path.exists()

    def opened(self) -> None:
        found = os.stat(self.path)
        self._identity = (found.st_dev, found.st_ino)
        if not self._existed:
            log.warning(
                "%s did not exist: created a new, empty event log there. If a log was expected "
                "at this path, stop the server and restore it.",
                self.path,
            )

    def check(self) -> None:
        """Raise StoreUnavailable if the opened file is no longer the one at the path."""
        if self.problem is None and self._identity is not None:
            self.problem = self._vanished()
            if self.problem is not None:
                log.error(
                    "the event log %s %s: refusing every write from now on, since what SQLite "
                    "writes would be lost. Restore the file and restart the server.",
                    self.path,
                    self.problem,
                )
        if self.problem is not None:
            raise StoreUnavailable(
                f"the event log {self.path} {self.problem}", reason=f"the log file {self.problem}"
            )

    def _vanished(self) -> str | None:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return "was deleted while the server ran"
        except OSError as error:
            return f"cannot be checked ({error.strerror})"
        if (found.st_dev, found.st_ino) != self._identity:
            return "was replaced by another file while the server ran"
        return None


def log_file_problem(store: object) -> str | None:
    """Why the store's log file cannot be trusted any more, or None; for `/health`. Checks
    now, so a deleted file shows before the next write. Stores without a file have none."""
    identity = getattr(store, "file_identity", None)
    if not isinstance(identity, LogFileIdentity):
        return None
    with contextlib.suppress(StoreUnavailable):
        identity.check()
    return identity.problem


def file_bytes(path: str | os.PathLike[str]) -> int:
    """The log's bytes on disk: the database file and its write-ahead log."""
    size = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            size += os.stat(f"{path}{suffix}").st_size
    return size
