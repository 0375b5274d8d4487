"""What every scenario gets: the settings, a scratch directory, wrk, and the target's origin."""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ops.bench.server import serve_help
from ops.bench.settings import BenchSettings


@dataclass
class Context:
    settings: BenchSettings
    workdir: Path
    selected: frozenset[int]
    run_tag: str  # in every id the run creates, so repeated runs against one server never clash
    url: str | None = None  # given with --url: no own server, and only the API is visible
    wrk: str | None = None
    wrk_note: str = ""
    profile_dir: Path | None = None  # --profile: py-spy samples of every own server
    peer_url: str | None = None  # --peer-url: the other registry, measured alternately with ours
    server_args: list[str] = field(default_factory=list)  # --server-args: more serve options
    postgres_url: str | None = None  # --postgres: a server for P9 to P12 (a database per run)
    ceilings: bool = True  # the stack's ceiling beside P1 and P2 (--no-ceilings: not)
    started: float = field(default_factory=time.monotonic)

    def wants(self, *numbers: int) -> bool:
        return any(number in self.selected for number in numbers)

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    @cached_property
    def serve_options(self) -> frozenset[str]:
        return frozenset(re.findall(r"--[a-z][a-z0-9-]+", serve_help()))

    def subscriber_cap_args(self, subscribers: int) -> list[str]:
        if "--max-subscribers" in self.serve_options:
            return ["--max-subscribers", str(subscribers + 100)]
        return []
