"""`vm-registry watch` on a real terminal: a pseudo-terminal driven by pexpect, its screen
rebuilt by pyte (a terminal emulator), so what is checked is what a person would see."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pexpect
import pyte
import pytest

from tests.cli.conftest import clean_env, run_cli
from tests.conftest import vm
from tests.support.server import ServerProcess

COLUMNS, LINES = 170, 40


class Terminal:
    def __init__(self, *args: str) -> None:
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)
        env = clean_env({"TERM": "xterm-256color"})
        for name in ("COLUMNS", "LINES", "NO_COLOR"):
            env.pop(name, None)
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "vm_registry.cli.main", *args],
            env=env,
            dimensions=(LINES, COLUMNS),
        )

    def text(self) -> str:
        while True:
            try:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.05))
            except (pexpect.TIMEOUT, pexpect.EOF):
                break
        return "\n".join(self.screen.display)

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if check(text):
                return text
            assert time.monotonic() < deadline, f"never saw {what}; the screen:\n{text}"

    def style(self, vm_id: str) -> tuple[str, bool]:
        """Colour and strike-through of the id's cell, as the terminal draws it."""
        lines = self.text().splitlines()
        y = next(i for i, line in enumerate(lines) if vm_id in line)
        char = self.screen.buffer[y][lines[y].index(vm_id)]
        return char.fg, char.strikethrough

    def row(self, vm_id: str) -> str:
        (line,) = [line for line in self.text().splitlines() if vm_id in line]
        return line


@pytest.fixture
def terminal(shared_server: ServerProcess) -> Iterator[Callable[..., Terminal]]:
    opened: list[Terminal] = []

    def open_(*args: str) -> Terminal:
        term = Terminal("watch", "--url", shared_server.url, *args)
        opened.append(term)
        return term

    yield open_
    for term in opened:
        term.child.terminate(force=True)


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_the_live_table_shows_rows_appear_change_and_leave_in_place(
    shared_server: ServerProcess, terminal: Callable[..., Terminal]
) -> None:
    http = httpx.Client(base_url=shared_server.url, timeout=10)
    before = fresh("before")
    assert http.post("/registry/vms", json=vm(before, role="golden")).status_code == 201
    term = terminal("--role", "golden")
    # It starts from the fleet as it is.
    screen = term.wait_for(lambda s: before in s, "the VM registered before the watch")
    assert "ID" in screen and "STATUS" in screen and "LAST SEEN" in screen

    added = fresh("added")
    assert http.post("/registry/vms", json=vm(added, role="golden")).status_code == 201
    term.wait_for(lambda s: added in s, "a VM registered during the watch")
    assert term.style(added) == ("green", False)  # marked new for a moment

    patch = {"name": "renamed-live", "status": "paused"}
    assert http.patch(f"/registry/vms/{added}", json=patch).status_code == 200
    term.wait_for(lambda s: "renamed-live" in s, "the PATCH")
    assert "paused" in term.row(added)

    assert http.delete(f"/registry/vms/{added}").status_code == 200
    term.wait_for(lambda s: term.style(added) == ("red", True), "the removed row struck out")
    screen = term.wait_for(lambda s: added not in s, "the deregistered VM leaving")
    assert before in screen

    # Drawn in place: one table on the screen, its header once, however many updates came.
    assert sum(line.count("LAST SEEN") for line in screen.splitlines()) == 1
    assert term.child.isalive()
    term.child.sendintr()
    term.child.expect(pexpect.EOF, timeout=10)
    term.child.close()
    assert term.child.exitstatus == 130
    http.close()


def test_json_on_a_terminal_stays_one_line_per_event(
    shared_server: ServerProcess, terminal: Callable[..., Terminal]
) -> None:
    with httpx.Client(base_url=shared_server.url, timeout=10) as http:
        head = http.get("/health").json()["revision"]
        term = terminal("--json", "--role", "infra", "--after", str(head))
        vm_id = fresh("json")
        assert http.post("/registry/vms", json=vm(vm_id, role="infra")).status_code == 201
    screen = term.wait_for(lambda s: vm_id in s, "the event line")
    line = next(line for line in screen.splitlines() if vm_id in line)
    assert line.startswith('{"seq":')
    assert "LAST SEEN" not in screen


def test_tables_are_drawn_by_rich_on_a_terminal_and_plain_when_piped(
    shared_server: ServerProcess,
) -> None:
    vm_id = fresh("table")
    with httpx.Client(base_url=shared_server.url, timeout=10) as http:
        assert http.post("/registry/vms", json=vm(vm_id, role="custom")).status_code == 201
    term = Terminal("list", "--url", shared_server.url, "--role", "custom")
    term.child.expect(pexpect.EOF, timeout=20)
    term.stream.feed(term.child.before)  # all it wrote, which expect() consumed
    screen = "\n".join(term.screen.display)
    assert "┃ ID" in screen and vm_id in screen  # rich's box, bold header row
    piped = run_cli("list", "--url", shared_server.url, "--role", "custom")
    assert piped.code == 0
    header, *rows = piped.out.splitlines()
    assert header.split() == ["ID", "NAME", "ROLE", "STATUS", "ADDRESS", "LAST", "SEEN", "REV"]
    assert any(row.startswith(vm_id + " ") for row in rows)
    assert "┃" not in piped.out and "\x1b[" not in piped.out
