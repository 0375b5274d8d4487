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


def _run(tool: str, *args: str, partial: Path, failure: str) -> str:
    """`tool args`'s output; on failure the partial dump is removed and `failure` raised with
    what the tool said."""
    done = subprocess.run([_tool(tool), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{failure}: {done.stderr.strip() or 'no reason given'}")
    return done.stdout


def dump(url: str, target: Path) -> int:
    """`pg_dump` the database at `url` to `partial_path(target)` and read it all back; returns
    the number of entries in the archive's table of contents. The caller publishes it."""
    partial = partial_path(target)
    partial.unlink(missing_ok=True)
    dumping = ("--format=custom", "--no-owner", f"--file={partial}", url)
    _run("pg_dump", *dumping, partial=partial, failure="pg_dump failed")
    reading = ("--file=/dev/null", str(partial))
    _run("pg_restore", *reading, partial=partial, failure="the dump does not read back")
    listed = _run(
        "pg_restore", "--list", str(partial), partial=partial, failure="the dump lists nothing"
    )
    entries = [line for line in listed.splitlines() if line and not line.startswith(";")]
    if not entries:
        partial.unlink(missing_ok=True)
        raise BackupError("the dump lists nothing: empty")
    return len(entries)
