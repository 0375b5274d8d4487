"""Leadership: the work only one process may do at a time (the reaper, snapshots and their
thinning, health probes) runs where the log's leadership lease is held.

Every replica campaigns: every `interval` it tries to take the lease if it does not hold it,
and checks that it still does. The lease belongs to the log (PostgreSQL: an advisory lock on
its own connection; SQLite: an flock on a file beside the database), so it is lost with the
process or its connection, and another replica takes it at its next campaign. `interval` is
half a reaper interval, so a dead leader's work resumes elsewhere within one reaper interval.

`is_leader` is the one signal for "may I do leader-only work": ask it right before the work,
never cache it.
"""

from __future__ import annotations

import asyncio
import logging

from vm_registry.persistence.errors import StoreError
from vm_registry.persistence.log import Lease
from vm_registry.service.background import Background

log = logging.getLogger("vm_registry.leadership")


# What a leader does that the others leave to it, as the log says it to an operator.
LEADER_WORK = "marking silent VMs stale, snapshots, health checks"


class Leadership:
    """The campaign for the log's `Lease`, and the answer to "am I the leader now"."""

    def __init__(self, lease: Lease, interval: float) -> None:
        self.lease = lease
        self.interval = interval
        self._task = Background("vm-registry-leadership")
        self._was_leader = False
        # Why the last campaign could not reach the log, until one does (for /health): the
        # campaign is also this replica's regular probe of the log.
        self.log_error: str | None = None

    @property
    def is_leader(self) -> bool:
        return self.lease.held

    async def start(self) -> None:
        """Campaign once right away (a lone process is leader from its first moment), then
        in the background."""
        await self._campaign()
        if not self._was_leader and self.log_error is None:
            log.info(
                "another server on this log holds %s and does the work only one may do (%s); "
                "this one serves requests and follows the log",
                self.lease.where,
                LEADER_WORK,
            )
        self._task.start(self._run())

    async def stop(self) -> None:
        await self._task.stop()
        try:
            await self.lease.release()
        except StoreError as error:
            log.warning("could not release leadership: %s", error)
        self._was_leader = False

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._campaign()

    async def _campaign(self) -> None:
        try:
            if not self.lease.held:
                await self.lease.try_acquire()
            self.log_error = None
        except StoreError as error:
            self.log_error = error.reason
            log.warning("leadership campaign failed: %s", error)
        except Exception:  # the campaign must outlive any single failure
            log.exception("leadership campaign failed")
        leader = self.lease.held
        if leader != self._was_leader:
            # Not "the leader" alone: a lone server leads too, and should say what that means.
            if leader:
                log.info(
                    "holding %s: this server does the work only one server on its log may do "
                    "(%s); any other server started on the same log leaves it to this one",
                    self.lease.where,
                    LEADER_WORK,
                )
            else:
                log.info(
                    "lost %s: another server on this log takes over its work", self.lease.where
                )
            self._was_leader = leader
