"""Leadership on SQLite: an exclusive `flock` on `<db>.leader`.

Several servers may share one SQLite file (`serve --workers N`, or two `serve` started on the
same `--db`), and the work only one may do (marking silent VMs stale, snapshots, health
probes) must then run in one of them: the flock says which. A lone server takes it too, since
it cannot know that nobody will start beside it. The file stays empty and is left in place
when the lock is let go: deleting it while another process waits on it would let two
processes lock two different files. It is not locked on the database file itself, because
closing any descriptor of that file drops the POSIX locks SQLite holds on it.

The lock belongs to the open file description, so it is released when the holder closes it or
dies (even by `kill -9`); two leases in one process exclude each other too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from vm_registry.persistence.errors import StoreUnavailable


class FileLease:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    @property
    def where(self) -> str:
        return f"the lock file {self.path}"

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise StoreUnavailable(
                f"opening the leader lock {self.path}: {error}", reason="cannot open the lock"
            ) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
