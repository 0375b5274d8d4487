# Generated from heartbeat_aio.py by `python -m ops.unasync`: edit that file, not this one.
"""What one heartbeat does, and the registration it falls back on, for the threaded flavour
of the `Heartbeater`."""

from __future__ import annotations

from vm_registry.client.errors import Conflict, NotFound
from vm_registry.client.heartbeat_record import HeartbeatRecord
from vm_registry.client.sync import RegistryClient


def fetch_registration(record: HeartbeatRecord, client: RegistryClient) -> None:
    """With no registration to restore, remember the entry as it is now."""
    if record.registration is None:
        try:
            entry = client.get(record.id)
            record.registration = entry.registration()
        except Exception as e:
            record.failed(e)


def beat(record: HeartbeatRecord, client: RegistryClient) -> None:
    try:
        client.heartbeat(record.id)
        record.beaten()
    except NotFound:
        registration = record.lost()
        if registration is not None:
            try:
                client.register_from(registration)
                record.restored()
            except Conflict:
                pass  # someone registered it in between: alive again all the same
            except Exception as e:
                record.failed(e)
    except Exception as e:
        record.failed(e)
