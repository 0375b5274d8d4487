"""`serve --workers N`: N registry processes behind one port, on one log.

Each worker is a full replica (docs/scale-out.md): it folds the whole log, decides its writes
under the log's global lock (SQLite's write lock, across processes on one file), follows what
the others commit, and only the leader among them reaps and snapshots. This process only binds
the port once, hands the listening socket to every worker (the kernel spreads connections over
them), restarts a worker that dies, and on SIGTERM or SIGINT passes the signal on and waits for
their graceful shutdown.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from vm_registry.settings import Settings

RESTART_DELAY = 1.0  # seconds before a crashed worker is started again
STOP_TIMEOUT = 15.0  # a worker still running this long after SIGTERM is killed


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def worker_argv(argv: list[str]) -> list[str]:
    """The supervisor's own arguments minus `--workers`: each worker runs `serve` as it was
    asked, plus its index and the shared socket."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            kept.append(arg)
    return kept


class Supervisor:
    def __init__(self, settings: Settings, argv: list[str]) -> None:
        self.settings = settings
        self.argv = worker_argv(argv)
        self.sock = _listen(settings.host, settings.port)
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def _start(self, index: int) -> None:
        fd = self.sock.fileno()
        command = [
            sys.executable, "-m", "vm_registry.cli.main", *self.argv,
            "--worker-index", str(index), "--worker-fd", str(fd),
        ]  # fmt: skip
        self.workers[index] = subprocess.Popen(command, pass_fds=(fd,))

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for index in range(self.settings.workers):
            self._start(index)
        while not self.stopping:
            time.sleep(0.2)
            for index, proc in list(self.workers.items()):
                if proc.poll() is not None and not self.stopping:
                    print(
                        f"vm-registry: worker {index} exited with {proc.returncode}; "
                        "starting it again",
                        file=sys.stderr,
                        flush=True,
                    )
                    time.sleep(RESTART_DELAY)
                    if not self.stopping:
                        self._start(index)
        deadline = time.monotonic() + STOP_TIMEOUT
        failed = False
        for proc in self.workers.values():
            try:
                code = proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            failed = failed or code not in (0, -signal.SIGTERM)
        self.sock.close()
        return 1 if failed else 0


def supervise(settings: Settings) -> int:
    return Supervisor(settings, sys.argv[1:]).run()
