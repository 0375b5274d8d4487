"""Issue #25, item 14: `test_request_log.py` parsed `ServerProcess.output()` while the server
was still writing, and once got a half-written last line (`unexpected end of data`). Every
reader of a live server's log goes through `output()`, which now gives complete lines only
while the process runs, and everything once it has exited."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.server import ServerProcess


def test_a_running_servers_output_ends_at_its_last_complete_line(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "registry.db")
    server.log_path.write_text('{"a": 1}\n{"b": 2}\n{"c": ')  # the server is mid-line
    server.proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                   stdin=subprocess.PIPE)  # fmt: skip
    try:
        assert server.output() == '{"a": 1}\n{"b": 2}\n'
        with server.log_path.open("a") as log:
            log.write("3}\n")
        assert server.output() == '{"a": 1}\n{"b": 2}\n{"c": 3}\n'
    finally:
        assert server.proc.stdin is not None
        server.proc.stdin.close()
        server.proc.wait()
    with server.log_path.open("a") as log:
        log.write("exit without a newline")
    assert server.output().endswith('{"c": 3}\nexit without a newline')


def test_no_log_is_no_output(tmp_path: Path) -> None:
    assert ServerProcess(tmp_path / "registry.db").output() == ""
