"""What the SQL backends share: one flow for reading, paging, scanning, the head and the
append, written once over a small driver interface that each backend fills in with its SQL
dialect and its driver calls (`sqlite/log.py`, `postgres/log.py`)."""
