"""PostgreSQL backups with PostgreSQL's own tools: `pg_dump` writes the log in its custom
format (consistent: one repeatable-read snapshot, while replicas keep writing), and
`pg_restore` reads the whole archive back (every table's data, rendered to nowhere) before the
backup is called done.

Restores are left to `pg_restore` itself (docs/operations.md shows how): the target is a
database the operator creates, and PostgreSQL's roles and grants are theirs to decide.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from vm_registry.backup.sqlite_copy import BackupError, partial_path


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed; install PostgreSQL's client tools "
            "(Debian: postgresql-client) or see docs/operations.md"
        )
    return found


def dump(url: str, target: Path) -> int:
    """`pg_dump` the database at `url` to `partial_path(target)` and read it all back; returns
    the number of entries in the archive's table of contents. The caller publishes it."""
    partial = partial_path(target)
    partial.unlink(missing_ok=True)
    done = subprocess.run(
        [_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}", url],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    read_back = subprocess.run(
        [_tool("pg_restore"), "--file=/dev/null", str(partial)],
        capture_output=True,
        text=True,
        check=False,
    )
    if read_back.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the dump does not read back: {read_back.stderr.strip()}")
    listed = subprocess.run(
        [_tool("pg_restore"), "--list", str(partial)], capture_output=True, text=True, check=False
    )
    entries = [line for line in listed.stdout.splitlines() if line and not line.startswith(";")]
    if listed.returncode != 0 or not entries:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the dump lists nothing: {listed.stderr.strip() or 'empty'}")
    return len(entries)
