"""The peer registry (`--peer-url`): a server the harness did not start, on this machine.

Its memory is read like ours, from /proc, once its process is found: the process listening on
the URL's port, as `ss` reports it. A peer on another machine, or one `ss` cannot see, simply
has no memory figure.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from ops.bench.http1 import split_url
from ops.bench.server import tree_rss

_PID = re.compile(r"pid=(\d+)")


def listening_pid(url: str) -> int | None:
    _, port = split_url(url)
    ss = shutil.which("ss")
    if ss is None:
        return None
    done = subprocess.run(
        [ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10
    )
    found = _PID.search(done.stdout)
    return int(found.group(1)) if found else None


def rss_bytes(url: str) -> int | None:
    pid = listening_pid(url)
    return None if pid is None else tree_rss(pid)
