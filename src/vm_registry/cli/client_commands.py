"""`vm-registry register | list | get | update | deregister | heartbeat | discover | events |
history | wait | watch`: the client library, one command per method.

Flags mirror the JSON fields in kebab-case. Every command prints a readable table, or with
`--json` the server's own JSON shapes (`watch --json` writes one object a line, flushed as it
arrives, so it can be piped into `jq` or a line reader). A refusal prints the server's message on
stderr, prefixed with what kind of refusal it was, and exits 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from typing import Any

import orjson

from vm_registry.cli.render import Tabular, entries_table, entry_text, event_row, events_table, show
from vm_registry.client import config
from vm_registry.client.errors import (
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    RegistryError,
    Unauthorized,
    Unavailable,
    Unreachable,
)
from vm_registry.client.models import ROLES, STATUSES, Event, Service, Snapshot
from vm_registry.client.sync import RegistryClient
from vm_registry.client.waiting import WaitTimeout
from vm_registry.settings import default_address

Output = tuple[Any, str | Tabular]  # (the JSON body, the text or table for people)
Command = Callable[[RegistryClient, argparse.Namespace], Output]

_KINDS: tuple[tuple[type[RegistryError], str], ...] = (
    (NotFound, "not found"),
    (Conflict, "conflict"),
    (Invalid, "invalid"),
    (Unauthorized, "unauthorized"),
    (Forbidden, "forbidden"),
    (Gone, "gone"),
    (Unreachable, "unreachable"),
    (Unavailable, "unavailable"),
    (WaitTimeout, "timed out"),
)


def fail(error: RegistryError) -> int:
    kind = next((label for cls, label in _KINDS if isinstance(error, cls)), "error")
    print(f"vm-registry: {kind}: {error}", file=sys.stderr, flush=True)
    return 1


def connection_flags() -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--url", help="registry base URL (VERS_INFRA_URL)")
    flags.add_argument("--token", help="bearer token (VERS_AUTH_TOKEN)")
    return flags


def refuses_url(command: str, url: str | None) -> bool:
    """For the long-running commands (agent, mcp): a malformed registry URL is a usage error,
    said in one line before they start, not a traceback from inside the transport later."""
    try:
        config.base_url(url)
    except RegistryError as e:
        print(f"vm-registry {command}: {e}", file=sys.stderr)
        return True
    return False


def _output_flags() -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(add_help=False, parents=[connection_flags()])
    flags.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return flags


def _metadata(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _service(text: str) -> Service:
    try:
        return Service.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _vm_id(args: argparse.Namespace) -> str:
    vm_id = getattr(args, "vm_id", None) or config.vm_id(args.id)
    if vm_id is None:
        raise SystemExit(f"vm-registry {args.command}: give a VM id, or set VERS_VM_ID")
    return vm_id


# Rendering ---------------------------------------------------------------------------------


def _register(client: RegistryClient, args: argparse.Namespace) -> Output:
    vm_id = _vm_id(args)
    entry = client.register(
        vm_id,
        args.name or vm_id,
        config.role(args.role),
        args.address or default_address(vm_id),
        args.registered_by,
        status=args.status,
        services=args.service,
        metadata=args.metadata,
    )
    return entry.to_wire(), entry_text(entry)


def _list(client: RegistryClient, args: argparse.Namespace) -> Output:
    listing = client.list(role=args.role, status=args.status, selector=args.selector)
    return listing.to_wire(), entries_table(listing)


def _get(client: RegistryClient, args: argparse.Namespace) -> Output:
    entry = client.get(_vm_id(args))
    return entry.to_wire(), entry_text(entry)


def _update(client: RegistryClient, args: argparse.Namespace) -> Output:
    entry = client.update(
        _vm_id(args),
        name=args.name,
        status=args.status,
        address=args.address,
        services=args.service,
        metadata=args.metadata,
    )
    return entry.to_wire(), entry_text(entry)


def _deregister(client: RegistryClient, args: argparse.Namespace) -> Output:
    vm_id = _vm_id(args)
    client.deregister(vm_id)
    return {"deleted": True, "id": vm_id}, f"deregistered {vm_id}"


def _heartbeat(client: RegistryClient, args: argparse.Namespace) -> Output:
    beat = client.heartbeat(_vm_id(args))
    body = beat.to_wire()
    return body, f"heartbeat {beat.id} at {body['lastSeen']}"


def _discover(client: RegistryClient, args: argparse.Namespace) -> Output:
    listing = client.discover(args.discover_role, selector=args.selector)
    return listing.to_wire(), entries_table(listing)


def _events(client: RegistryClient, args: argparse.Namespace) -> Output:
    events = client.events(
        after=args.after,
        limit=args.limit,
        vm=args.vm,
        type=args.type,
        since=args.since,
        until=args.until,
    )
    return {"events": [e.to_wire() for e in events], "count": len(events)}, events_table(events)


def _history(client: RegistryClient, args: argparse.Namespace) -> Output:
    events = client.history(_vm_id(args))
    return {"events": [e.to_wire() for e in events], "count": len(events)}, events_table(events)


def _wait(client: RegistryClient, args: argparse.Namespace) -> Output:
    if args.role is not None and (args.vm_id or args.id):
        raise SystemExit("vm-registry wait: give a VM id or --role, not both")
    if args.role is None:
        entry = client.wait_for_vm(_vm_id(args), selector=args.selector, timeout=args.timeout)
        return entry.to_wire(), entry_text(entry)
    listing = client.wait_for_role(
        args.role, args.count, healthy=args.healthy, selector=args.selector, timeout=args.timeout
    )
    return listing.to_wire(), entries_table(listing)


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            with RegistryClient(args.url, args.token) as client:
                body, text = command(client, args)
        except RegistryError as e:
            return fail(e)
        show(orjson.dumps(body).decode() if args.json else text)
        return 0

    return run


def _watch(args: argparse.Namespace) -> int:
    # SIGTERM ends a watch as cleanly as Ctrl-C does: it is how supervisors stop it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    types = [t for t in (args.types or "").split(",") if t] or None
    live = sys.stdout.isatty() and not args.json  # a live table, else one line per event
    try:
        with RegistryClient(args.url, args.token) as client:
            stream = client.watch(
                role=args.role,
                vm=args.vm,
                types=types,
                selector=args.selector,
                after=args.after,
                # The live table starts from the fleet as it is, as `kubectl get -w` does.
                snapshot=args.snapshot or (live and args.after is None),
                max_delay=args.max_delay,
            )
            if live:
                from vm_registry.cli.watch_table import watch_live

                watch_live(stream, f"vm-registry watch {client.base_url}")
                return 0
            for item in stream:
                print(_watch_line(item, args.json), flush=True)
    except RegistryError as e:
        return fail(e)
    except KeyboardInterrupt:
        return 130
    return 0


def _watch_line(item: Event | Snapshot, as_json: bool) -> str:
    if isinstance(item, Snapshot):
        if as_json:
            return orjson.dumps({"type": "snapshot", **item.to_wire()}).decode()
        return f"snapshot at revision {item.revision}:\n{entries_table(item.vms).plain()}"
    if as_json:
        return orjson.dumps(item.to_wire(with_vm=True)).decode()
    return "  ".join(cell for cell in event_row(item) if cell)


# Parsers -----------------------------------------------------------------------------------


def _add_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("vm_id", nargs="?", metavar="ID", help="the VM id (VERS_VM_ID)")
    parser.add_argument("--id", help="the VM id, as a flag (VERS_VM_ID)")


def _add_selector(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-l",
        "--selector",
        metavar="SELECTOR",
        help="only VMs whose metadata matches this label selector, such as "
        "'task=billing,gpu.model in (a100,h100),!spot' (docs/feed.md, Selectors)",
    )


def _add_entry_fields(parser: argparse.ArgumentParser, defaults: bool) -> None:
    name, address, status = (
        (" (default: the id)", f" (default: {default_address('<id>')})", " (default: running)")
        if defaults
        else ("", "", "")
    )
    parser.add_argument("--name", help="the VM's name" + name)
    parser.add_argument("--status", choices=STATUSES, help="the VM's status" + status)
    parser.add_argument("--address", help="where the VM is reached" + address)
    parser.add_argument(
        "--service",
        action="append",
        type=_service,
        metavar="NAME:PORT[:HEALTHPATH]",
        help="a service the VM offers; repeat for several",
    )
    parser.add_argument("--metadata", type=_metadata, metavar="JSON", help="a JSON object")


def register(subparsers: Any) -> None:
    out = _output_flags()

    def add(name: str, help: str, command: Command) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name, parents=[out], help=help, description=help[0].upper() + help[1:] + "."
        )
        parser.set_defaults(func=_runner(command))
        return parser

    p = add("register", "register a VM", _register)
    p.add_argument("--id", help="the VM id (VERS_VM_ID)")
    p.add_argument("--role", choices=ROLES, help="the VM's role (VERS_AGENT_ROLE, else worker)")
    p.add_argument("--registered-by", default="cli", help="who registers it (default: cli)")
    _add_entry_fields(p, defaults=True)
    p.set_defaults(vm_id=None)

    p = add("list", "list registered VMs, newest first", _list)
    p.add_argument("--role", choices=ROLES, help="only VMs of this role")
    p.add_argument(
        "--status", choices=STATUSES, help="only this status; running leaves out stale VMs"
    )
    _add_selector(p)

    _add_id(add("get", "show one VM", _get))

    p = add("update", "change a VM's name, status, address, services or metadata", _update)
    _add_id(p)
    _add_entry_fields(p, defaults=False)

    _add_id(add("deregister", "remove a VM from the registry", _deregister))
    _add_id(add("heartbeat", "tell the registry a VM is alive", _heartbeat))

    p = add("discover", "find the running, fresh VMs of a role", _discover)
    p.add_argument("discover_role", metavar="ROLE", choices=ROLES, help=", ".join(ROLES))
    _add_selector(p)

    p = add("events", "page through the event log", _events)
    p.add_argument("--after", type=int, metavar="SEQ", help="only events after this seq")
    p.add_argument(
        "--limit", type=int, metavar="N", help="events in the page, 1-1000 (default: 100)"
    )
    p.add_argument("--vm", metavar="ID", help="only this VM's events")
    p.add_argument(
        "--type", metavar="TYPE", help="only this type, or a comma list (vm.registered,...)"
    )
    p.add_argument("--since", metavar="ISO-TIME", help="only events at or after this time")
    p.add_argument("--until", metavar="ISO-TIME", help="only events at or before this time")

    _add_id(add("history", "every event of one VM id, across re-registrations", _history))

    _add_wait(add("wait", "wait until a VM is running, or a role has enough running VMs", _wait))

    _add_watch(subparsers, out)


def _add_wait(p: argparse.ArgumentParser) -> None:
    _add_id(p)
    p.add_argument("--role", choices=ROLES, help="wait for this role's VMs instead of one VM")
    p.add_argument("--count", type=int, default=1, metavar="N", help="with --role: how many")
    p.add_argument(
        "--healthy", action="store_true", help="with --role: only VMs with no failing check"
    )
    _add_selector(p)
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="give up, exit 1")


def _add_watch(subparsers: Any, out: argparse.ArgumentParser) -> None:
    # Not through `add`: watch streams until stopped, so it runs `_watch` itself.
    p = subparsers.add_parser(
        "watch",
        parents=[out],
        help="follow changes live, reconnecting as needed",
        description="Follow changes live; reconnects and resumes across server restarts.",
    )
    p.add_argument("--role", choices=ROLES, help="only VMs of this role")
    p.add_argument("--vm", metavar="ID", help="only this VM")
    p.add_argument("--types", metavar="TYPE,...", help="comma list of event types")
    _add_selector(p)
    p.add_argument("--after", type=int, metavar="SEQ", help="start after this seq")
    p.add_argument("--snapshot", action="store_true", help="start with the current fleet")
    p.add_argument("--max-delay", type=float, default=5.0, help=argparse.SUPPRESS)
    p.set_defaults(func=_watch)
