"""What one heartbeat does, and the registration it falls back on, for the asyncio flavour of
the `Heartbeater`. `heartbeat_sync.py` is generated from this file (`python -m ops.unasync`), so
the threaded flavour beats exactly the same way."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vm_registry.client.aio import AsyncRegistryClient
from vm_registry.client.errors import Conflict, NotFound

if TYPE_CHECKING:
    from vm_registry.client.heartbeater import Heartbeater

log = logging.getLogger("vm_registry.client.heartbeater")


async def fetch_registration(beater: Heartbeater, client: AsyncRegistryClient) -> None:
    """With no registration to restore, remember the entry as it is now."""
    if beater.registration is None:
        try:
            entry = await client.get(beater.id)
            beater.registration = entry.registration()
        except Exception as e:
            beater._failed(e)


async def beat(beater: Heartbeater, client: AsyncRegistryClient) -> None:
    try:
        await client.heartbeat(beater.id)
        beater.beats += 1
        log.debug("heartbeat %s", beater.id)
    except NotFound:
        registration = beater._lost()
        if registration is not None:
            try:
                await client.register_from(registration)
                beater._restored()
            except Conflict:
                pass  # someone registered it in between: alive again all the same
            except Exception as e:
                beater._failed(e)
    except Exception as e:
        beater._failed(e)
