"""What one heartbeat does, and the registration it falls back on, for the asyncio flavour of
the `Heartbeater`. `heartbeat_sync.py` is generated from this file (`python -m ops.unasync`), so
the threaded flavour beats exactly the same way."""

from __future__ import annotations

from vm_registry.client.aio import AsyncRegistryClient
from vm_registry.client.errors import Conflict, NotFound
from vm_registry.client.heartbeat_record import HeartbeatRecord


async def fetch_registration(record: HeartbeatRecord, client: AsyncRegistryClient) -> None:
    """With no registration to restore, remember the entry as it is now."""
    if record.registration is None:
        try:
            entry = await client.get(record.id)
            record.registration = entry.registration()
        except Exception as e:
            record.failed(e)


async def beat(record: HeartbeatRecord, client: AsyncRegistryClient) -> None:
    try:
        await client.heartbeat(record.id)
        record.beaten()
    except NotFound:
        registration = record.lost()
        if registration is not None:
            try:
                await client.register_from(registration)
                record.restored()
            except Conflict:
                pass  # someone registered it in between: alive again all the same
            except Exception as e:
                record.failed(e)
    except Exception as e:
        record.failed(e)
