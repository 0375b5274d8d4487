"""`--profile DIR`: sample every server the harness starts with py-spy, once it is ready.

py-spy attaches to the running process (`--pid`), samples only the thread holding the GIL
(`--gil`, so idle threads do not drown the picture) and writes collapsed stacks when the server
exits. `summarize` turns those into the top lines a decision record quotes: where time is
spent in each function itself, and inclusive of what it calls. Sampling costs the server a few
percent, so profiled runs are for finding causes, not for the table.

Startup replay happens before readiness, so it is not in these profiles; record it with
`py-spy record --gil -f raw -o replay.txt -- vm-registry serve --db COPY.db` instead.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE_HZ = 200


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def attach(pid: int, raw: Path) -> asyncio.subprocess.Process | None:
    binary = py_spy()
    if binary is None:
        return None
    return await asyncio.create_subprocess_exec(
        binary, "record", "--pid", str(pid), "--gil", "--rate", str(RATE_HZ),
        "--format", "raw", "--output", str(raw),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def summarize(raw: Path, top: int = 25) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";") if stack else ["(outside Python: I/O, sleeping in the loop)"]
        samples += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"{samples} samples at {RATE_HZ} Hz, GIL holder only", "", "self:"]
    lines += [f"{100 * n / samples:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"{100 * n / samples:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"
