"""Storage of the event log: narrow protocols by concern (`log.py`, `snapshots.py`,
`compaction.py`), and one package per backend with one module per concern."""
