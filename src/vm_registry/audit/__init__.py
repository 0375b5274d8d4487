"""Offline audit of a log: verify, replay, compact, and compaction archives."""
