"""Backups of the event log: a consistent copy while the server runs, verified before it counts.

SQLite goes through SQLite's online backup API (`sqlite_copy.py`), never a file copy that can
tear against the write-ahead log. PostgreSQL goes through its own standard tools
(`postgres_dump.py`: `pg_dump` and `pg_restore`).
"""
