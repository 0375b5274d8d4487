"""`vm-registry agent [options] [-- CMD ARGS...]`: keep this VM registered while work runs.

It does for any process what the agent-services extension does for pi agents: register on start
(or, when the id is already registered, PATCH it back to `running`), heartbeat, and mark the
entry `stopped` when the work ends.

The registry is a convenience for the child, never a dependency: the child starts at once,
registration and heartbeats run beside it and retry quietly while the registry is unreachable,
and the exit code is always the child's (128 + N when a signal N killed it, as shells report).

Signals: SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 are forwarded to the child, and the agent waits for
it to exit. SIGINT is forwarded too, except when it came from the terminal the child shares, where
the child already got its own copy (forwarding it would make one Ctrl-C look like two). Without a
command, the first SIGTERM or SIGINT ends the agent with exit code 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sys
from datetime import UTC, datetime
from typing import Any, Final

from vm_registry.cli.client_commands import connection_flags, refuses_url
from vm_registry.cli.transport_logs import quiet_transport
from vm_registry.client import config
from vm_registry.client.aio import AsyncRegistryClient
from vm_registry.client.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RegistryError,
    Unauthorized,
)
from vm_registry.client.heartbeater import Heartbeater
from vm_registry.client.models import ROLES, Registration, Service, format_time
from vm_registry.settings import default_address

log = logging.getLogger("vm_registry.agent")

FORWARDED: Final = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
# Refusals that no retry can fix: say so once, then leave the child alone.
HOPELESS: Final = (Invalid, Unauthorized, Forbidden)
RETRY_CAP: Final = 30.0
STOP_ATTEMPTS: Final = 3
# The exit code must not wait long on a registry that hangs.
STOP_BUDGET: Final = 10.0


class Presence:
    """One VM's entry, kept registered for as long as `keep()` runs."""

    def __init__(self, client: AsyncRegistryClient, registration: Registration, interval: float):
        self.client = client
        self.registration = registration
        self.interval = interval
        self.registered = False

    async def announce(self) -> None:
        try:
            await self.client.register_from(self.registration)
            log.info("registered %s as %s", self.registration.id, self.registration.role)
        except Conflict:
            # The entry outlived an earlier run (or an orchestrator registered it): take it over
            # without losing what others wrote in its metadata.
            current = await self.client.get(self.registration.id)
            metadata = {**(current.metadata or {}), **(self.registration.metadata or {})}
            await self.client.update(self.registration.id, status="running", metadata=metadata)
            log.info("%s was already registered; marked it running", self.registration.id)
        self.registered = True

    async def keep(self) -> None:
        delay = min(1.0, self.interval)
        while True:
            try:
                await self.announce()
                break
            except asyncio.CancelledError:
                # The work ended while a registration was in flight; it may have landed, so
                # stop() should mark it (a 404 then is fine).
                self.registered = True
                raise
            except HOPELESS as e:
                log.error("the registry refused %s: %s; giving up", self.registration.id, e)
                return
            except RegistryError as e:
                log.warning("cannot register %s yet: %s", self.registration.id, e)
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, RETRY_CAP, max(self.interval, 1.0))
        async with Heartbeater(
            self.client, self.registration.id, self.interval, registration=self.registration
        ):
            await asyncio.Event().wait()

    async def stop(self) -> None:
        if not self.registered:
            return
        try:
            async with asyncio.timeout(STOP_BUDGET):
                await self._mark_stopped()
        except TimeoutError:
            log.warning("gave up marking %s stopped", self.registration.id)

    async def _mark_stopped(self) -> None:
        for attempt in range(STOP_ATTEMPTS):
            try:
                await self.client.update(self.registration.id, status="stopped")
                log.info("marked %s stopped", self.registration.id)
                return
            except NotFound:
                return
            except RegistryError as e:
                log.warning("cannot mark %s stopped: %s", self.registration.id, e)
            if attempt + 1 < STOP_ATTEMPTS:
                await asyncio.sleep(0.5 * (attempt + 1))


def _from_terminal(sig: int) -> bool:
    if sig != signal.SIGINT:
        return False
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


async def supervise(presence: Presence, command: list[str]) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    child: asyncio.subprocess.Process | None = None
    if command:
        try:
            child = await asyncio.create_subprocess_exec(*command)
        except OSError as e:
            print(f"vm-registry agent: cannot run {command[0]}: {e}", file=sys.stderr)
            return 127 if isinstance(e, FileNotFoundError) else 126
        presence.registration = _with_pid(presence.registration, child.pid)

    def on_signal(sig: int) -> None:
        if child is not None and child.returncode is None:
            if not _from_terminal(sig):
                child.send_signal(sig)
        elif sig in (signal.SIGTERM, signal.SIGINT):
            stopping.set()

    for sig in FORWARDED:
        loop.add_signal_handler(sig, on_signal, sig)
    keeper = asyncio.create_task(presence.keep())
    try:
        if child is not None:
            code = await child.wait()
            code = 128 - code if code < 0 else code
        else:
            await stopping.wait()
            code = 0
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
        await presence.stop()
        for sig in FORWARDED:
            loop.remove_signal_handler(sig)
    return code


def _with_pid(registration: Registration, pid: int) -> Registration:
    metadata = {**(registration.metadata or {}), "pid": pid}
    return Registration(
        registration.id,
        registration.name,
        registration.role,
        registration.address,
        registration.registered_by,
        registration.status,
        registration.services,
        metadata,
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="vm-registry agent: %(message)s",
        stream=sys.stderr,
    )
    quiet_transport()  # -v shows heartbeats, not every HTTP exchange
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    vm_id = config.vm_id(args.id)
    if vm_id is None:
        print("vm-registry agent: give --id, or set VERS_VM_ID", file=sys.stderr)
        return 2
    if args.heartbeat_interval <= 0:
        print("vm-registry agent: --heartbeat-interval must be positive", file=sys.stderr)
        return 2
    if refuses_url("agent", args.url):
        return 2
    registration = Registration(
        id=vm_id,
        name=args.name or vm_id,
        role=config.role(args.role),
        address=args.address or default_address(vm_id),
        registered_by=args.registered_by,
        services=args.service,
        metadata={"pid": os.getpid(), "startedAt": format_time(datetime.now(UTC))},
    )

    async def main() -> int:
        async with AsyncRegistryClient(args.url, args.token, timeout=args.timeout) as client:
            return await supervise(Presence(client, registration, args.heartbeat_interval), command)

    return asyncio.run(main())


def _service(text: str) -> Service:
    try:
        return Service.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "agent",
        parents=[connection_flags()],
        help="keep this VM registered while a command runs",
        description=(
            "Register this VM, heartbeat, and mark it stopped when CMD exits (or, without CMD, "
            "when signalled). Exits with CMD's exit code."
        ),
        usage="%(prog)s [options] [-- CMD ARGS...]",
    )
    parser.add_argument("--id", help="the VM id (VERS_VM_ID)")
    parser.add_argument("--role", choices=ROLES, help="the role (VERS_AGENT_ROLE, else worker)")
    parser.add_argument("--name", help="the entry's name (default: the id)")
    parser.add_argument("--address", help=f"the address (default: {default_address('<id>')})")
    parser.add_argument(
        "--registered-by", default="agent", help="who registers it (default: agent)"
    )
    parser.add_argument(
        "--service", action="append", type=_service, metavar="NAME:PORT[:HEALTHPATH]",
        help="a service the VM offers; repeat for several",
    )  # fmt: skip
    parser.add_argument(
        "--heartbeat-interval", type=float, default=60.0, metavar="SECONDS",
        help="time between heartbeats (default: 60)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every heartbeat")
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)
