# Generated from heartbeat_aio.py by `python -m ops.unasync`: edit that file, not this one.
"""What one heartbeat does, and the registration it falls back on, for the threaded flavour
of the `Heartbeater`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vm_registry.client.errors import Conflict, NotFound
from vm_registry.client.sync import RegistryClient

if TYPE_CHECKING:
    from vm_registry.client.heartbeater import Heartbeater

log = logging.getLogger("vm_registry.client.heartbeater")


def fetch_registration(beater: Heartbeater, client: RegistryClient) -> None:
    """With no registration to restore, remember the entry as it is now."""
    if beater.registration is None:
        try:
            entry = client.get(beater.id)
            beater.registration = entry.registration()
        except Exception as e:
            beater._failed(e)


def beat(beater: Heartbeater, client: RegistryClient) -> None:
    try:
        client.heartbeat(beater.id)
        beater.beats += 1
        log.debug("heartbeat %s", beater.id)
    except NotFound:
        registration = beater._lost()
        if registration is not None:
            try:
                client.register_from(registration)
                beater._restored()
            except Conflict:
                pass  # someone registered it in between: alive again all the same
            except Exception as e:
                beater._failed(e)
    except Exception as e:
        beater._failed(e)
