"""HTTP load with wrk and the Lua scripts in `ops/bench/lua/`.

wrk is a C load generator with one event loop per thread, so it costs the shared CPU far less
than any Python client. One wrk thread saturates a single-process Python server many times
over, so the harness uses one and leaves the other core to the server. Every script ends with
`report.done`, which prints one `BENCH_JSON {...}` line: nothing is scraped from wrk's table.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

LUA_DIR = Path(__file__).with_name("lua")
_REPORT = re.compile(r"^BENCH_JSON (\{.*\})$", re.MULTILINE)
INSTALL_HINT = "install it with `sudo apt-get install wrk` (Debian, Ubuntu) or `brew install wrk`"


class WrkFailed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def to_json(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "rps": round(self.rps, 1),
            "errors": self.errors,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        }


def ensure_wrk(*, install: bool = True) -> tuple[str | None, str]:
    """The wrk binary, installing the Debian package when allowed and running as root.

    Returns (path or None, a note for the report)."""
    found = shutil.which("wrk")
    if found:
        return found, ""
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None, f"wrk is not installed: {INSTALL_HINT}"
    print("wrk is missing; installing the Debian package (running as root)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install_wrk = ["apt-get", "install", "-y", "-q", "wrk"]
    # The package lists of a fresh machine may be empty: update once, then try again.
    for steps in ([install_wrk], [["apt-get", "update", "-q"], install_wrk]):
        for step in steps:
            subprocess.run(step, env=env, check=False, capture_output=True, timeout=600)
        found = shutil.which("wrk")
        if found:
            return found, ""
    return None, f"installing wrk with apt-get failed: {INSTALL_HINT}"


async def run_wrk(
    wrk: str,
    url: str,
    *,
    script: str = "get.lua",
    script_args: Sequence[str] = (),
    connections: int = 64,
    threads: int = 1,
    duration_s: float = 5.0,
    timeout_s: float = 5.0,
) -> WrkResult:
    command = [
        wrk, f"-t{threads}", f"-c{max(connections, threads)}", f"-d{max(1, round(duration_s))}s",
        f"--timeout={max(1, round(timeout_s))}s", "-s", str(LUA_DIR / script), url,
    ]  # fmt: skip
    if script_args:
        command += ["--", *script_args]
    env = {**os.environ, "LUA_PATH": f"{LUA_DIR}/?.lua;;"}
    process = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), duration_s + timeout_s + 30)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise WrkFailed(f"wrk did not stop: {' '.join(command)}") from None
    text = out.decode(errors="replace")
    found = _REPORT.search(text)
    if process.returncode != 0 or found is None:
        raise WrkFailed(f"wrk failed ({process.returncode}): {err.decode(errors='replace')}{text}")
    return parse_report(found.group(1))


def parse_report(raw: str) -> WrkResult:
    data = orjson.loads(raw)
    latency = data["latency_us"]
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        errors={k: int(v) for k, v in data["errors"].items()},
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
    )
