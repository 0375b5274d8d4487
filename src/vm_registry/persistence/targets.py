"""Where a store lives, as the `--db` text names it: a `postgresql://` URL or a SQLite file.

The text is kept as it is (a `Path` would fold a URL's `//`). Messages and logs name a URL
without its password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")


def is_postgres_url(target: str | Path) -> bool:
    return str(target).startswith(POSTGRES_SCHEMES)


def redacted(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}" if user else netloc))


def describe(target: str | Path) -> str:
    """The target for messages: a URL without its password, a file by its absolute path."""
    if is_postgres_url(target):
        return redacted(str(target))
    return str(Path(target).resolve())
