"""Storage of the event log. `store.py` is the narrow interface; one module per backend."""
