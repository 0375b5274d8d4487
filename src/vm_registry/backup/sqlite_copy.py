"""SQLite backups and restores through the online backup API.

Backup copies the whole database in **one** step: one read transaction, so the copy is the
database as of one commit, and in WAL mode the server keeps writing meanwhile (a copy in many
steps restarts each time another connection writes, which a busy registry does every few
milliseconds, so it might never finish). The copy goes to `<target>.partial`, is checked
(`PRAGMA integrity_check`, then the registry's own chain verification, by the caller), and only
then renamed over the target and fsynced.

Restore checks the backup the same way, then refuses a target that is live (a server or any
other process has it open: switching it out of WAL mode needs sole access, and fails otherwise)
or that holds events, unless `force` is given for the latter. A live target is refused even
with `force`: a server whose log is replaced under it would keep serving, and appending to, a
history that is no longer there. It is written through the backup API too, so the target's own
journal is handled by SQLite.

Backup refuses, even with `force`, what no backup can be written over: the database it copies
(or its journal files, under any spelling of the path), a log a process has open (the same test
as restore's), and a directory.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why, for the operator."""


@dataclass(frozen=True, slots=True)
class Copied:
    path: Path
    bytes: int


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"file:{path}?mode={mode}", uri=True, timeout=5)
    except sqlite3.Error as error:
        raise BackupError(f"cannot open {path}: {error}") from error


def check_integrity(path: Path) -> None:
    """SQLite's own page-level check of a finished copy."""
    conn = _connect(path, "ro")
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.Error as error:
        raise BackupError(f"{path} is not a readable SQLite database: {error}") from error
    finally:
        conn.close()
    if rows != [("ok",)]:
        problems = "; ".join(str(row[0]) for row in rows[:5])
        raise BackupError(f"{path} fails SQLite's integrity check: {problems}")


def partial_path(target: Path) -> Path:
    return target.with_name(target.name + ".partial")


def writes_over(path: Path, db: Path) -> bool:
    """Whether writing `path` would write over the database `db` or one of its journal files,
    however either path is spelled (`..`, symbolic or hard links)."""
    for own in (db, *(Path(f"{db}{suffix}") for suffix in ("-wal", "-shm", "-journal"))):
        if path.resolve() == own.resolve():
            return True
        try:
            if path.exists() and own.exists() and os.path.samefile(path, own):
                return True
        except OSError:
            continue
    return False


def check_backup_target(source: Path | None, target: Path) -> None:
    """Refuse a `--to` that no backup may replace, `--force` or not; `source` is the SQLite
    database being copied (None for a PostgreSQL one)."""
    if target.is_dir():
        raise BackupError(
            f"{target} is a directory; --to names the backup file, "
            f"such as {target / 'registry-backup.db'}"
        )
    if source is not None:
        if writes_over(target, source):
            raise BackupError(f"{target} is the database being backed up; back up to another file")
        if writes_over(partial_path(target), source):
            raise BackupError(
                f"the copy is written to {partial_path(target)} first, which is the database "
                "being backed up; back up to another file"
            )
    if target.exists():
        refuse_live(target, "back up to another file")


def refuse_live(target: Path, advice: str) -> None:
    """Raise BackupError if `target` is a SQLite database a process has open. A file that is
    not a database (an older pg_dump archive, say) is not anyone's log."""
    try:
        conn = sqlite3.connect(f"file:{target}?mode=rw", uri=True, timeout=0)
    except sqlite3.Error:
        return
    try:
        conn.execute("PRAGMA busy_timeout = 0")
        before = _leave_wal(conn, target, advice)
        conn.execute(f"PRAGMA journal_mode={before}")
    except sqlite3.OperationalError as error:
        raise BackupError(f"{target} is in use ({error}); {advice}") from error
    except sqlite3.DatabaseError:
        return  # not a SQLite database
    finally:
        conn.close()


def _leave_wal(conn: sqlite3.Connection, target: Path, advice: str) -> str:
    """Switch `target` out of WAL mode, which needs sole access: the proof that no process
    has it open. Returns the mode it was in."""
    before = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.OperationalError as error:
        raise BackupError(
            f"{target} is in use (a server or another process has it open: {error}); {advice}"
        ) from error
    return before


def copy_live(source: Path, target: Path) -> Copied:
    """Copy `source` (which a server may be writing) to `partial_path(target)`, in one step."""
    if not source.exists():
        raise BackupError(f"{source} does not exist")
    partial = partial_path(target)
    partial.unlink(missing_ok=True)
    src = _connect(source, "ro")
    dst = _connect(partial, "rwc")
    try:
        src.backup(dst, pages=-1)
        # A self-contained file: the copy's pages are in it, not in a write-ahead log beside it.
        dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup of {source} failed: {error}") from error
    finally:
        dst.close()
        src.close()
    return Copied(partial, partial.stat().st_size)


def publish(partial: Path, target: Path) -> None:
    """Put a verified copy in place atomically, and make the rename durable."""
    try:
        with partial.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot put the copy in place at {target}: {error}") from error
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def events_in(path: Path) -> int:
    """How many events a registry database holds (0 if it has no log yet)."""
    conn = _connect(path, "ro")
    try:
        has_log = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'"
        ).fetchone()
        if has_log is None:
            return 0
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.Error as error:
        raise BackupError(f"cannot read {path}: {error}") from error
    finally:
        conn.close()


def restore(backup: Path, target: Path, *, force: bool) -> None:
    """Write the (already verified) `backup` into `target`; see the module docstring."""
    if not target.exists() or target.stat().st_size == 0:
        _write(backup, target)
        return
    conn = _connect(target, "rw")
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        before = _leave_wal(conn, target, "stop it before restoring over it")
        held = events_in(target)
        if held and not force:
            with contextlib.suppress(sqlite3.Error):
                conn.execute(f"PRAGMA journal_mode={before}")
            raise BackupError(
                f"{target} already holds {held} events; restoring would replace them. "
                "Pass --force to overwrite it"
            )
    finally:
        conn.close()
    _write(backup, target)


def _write(backup: Path, target: Path) -> None:
    src = _connect(backup, "ro")
    dst = _connect(target, "rwc")
    try:
        src.backup(dst, pages=-1)
    except sqlite3.Error as error:
        raise BackupError(f"restore into {target} failed: {error}") from error
    finally:
        dst.close()
        src.close()
    for suffix in ("-wal", "-shm"):
        stale = Path(f"{target}{suffix}")
        if stale.exists() and stale.stat().st_size == 0:
            stale.unlink(missing_ok=True)
