"""The registry registers itself, as the seed asks of the infra VM when its services start.

It goes through the same writer as any client, with an actor that says the server did it. An
existing entry (a restart) is updated back to `running` instead. While the server runs it keeps
the entry fresh with heartbeats, and on clean shutdown it marks it `stopped`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from vm_registry.domain import commands as cmd
from vm_registry.domain.errors import Conflict, NotFound, RegistryError
from vm_registry.service.registry import Registry

log = logging.getLogger("vm_registry.self")

SELF_ACTOR: dict[str, Any] = {"system": "self-registration"}


@dataclass(frozen=True, slots=True)
class Identity:
    vm_id: str
    name: str
    address: str
    port: int


class SelfRegistration:
    def __init__(self, registry: Registry, identity: Identity, interval: float) -> None:
        self.registry = registry
        self.identity = identity
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def _fields(self) -> dict[str, Any]:
        me = self.identity
        return {
            "name": me.name,
            "status": "running",
            "address": me.address,
            "services": [{"name": "registry", "port": me.port, "healthPath": "/health"}],
        }

    async def start(self) -> None:
        await self._register()
        self._task = asyncio.create_task(self._keep_fresh(), name="vm-registry-self")

    async def _register(self) -> None:
        me = self.identity
        fields = self._fields()
        register = cmd.Register(me.vm_id, {**fields, "role": "infra", "registeredBy": "self"})
        try:
            await self.registry.execute(register, SELF_ACTOR)
            log.info("registered itself as %s", me.vm_id)
        except Conflict:
            try:
                await self.registry.execute(cmd.Update(me.vm_id, fields), SELF_ACTOR)
                log.info("marked its existing entry %s running again", me.vm_id)
            except RegistryError as error:
                log.warning("self-registration failed: %s", error)
        except RegistryError as error:
            log.warning("self-registration failed: %s", error)

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.registry.execute(cmd.Heartbeat(self.identity.vm_id), SELF_ACTOR)
            except NotFound:  # someone deregistered the registry: it comes back
                await self._register()
            except RegistryError as error:
                log.warning("self-heartbeat failed: %s", error)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            update = cmd.Update(self.identity.vm_id, {"status": "stopped"})
            await self.registry.execute(update, SELF_ACTOR)
        except RegistryError as error:
            log.warning("could not mark itself stopped: %s", error)
