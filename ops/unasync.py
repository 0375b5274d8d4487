"""Generate the blocking client from the asyncio one, as httpcore does with `unasync`.

The async files are the source; each sync file is the same code with `await`/`async` removed and
the async names swapped for their blocking twins, then sorted and formatted by ruff. Run
`python -m ops.unasync` after editing an async file; `--check` (part of `make lint`) fails when
a generated file is stale.

A token table rather than the `unasync` package: the table is short, it covers names unasync
does not know (httpx's transports, httpx-sse's `aiter_sse`), and it needs no dependency.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "src" / "vm_registry" / "client"

# (async source, generated sync file, the generated file's docstring)
FILES = (
    (
        CLIENT / "aio.py",
        CLIENT / "sync.py",
        "The blocking client. Each method is one request on a keep-alive connection pool.",
    ),
    (
        CLIENT / "heartbeat_aio.py",
        CLIENT / "heartbeat_sync.py",
        "What one heartbeat does, and the registration it falls back on, for the threaded flavour\n"
        "of the `Heartbeater`.",
    ),
    (
        CLIENT / "watch_aio.py",
        CLIENT / "watch_sync.py",
        "The blocking change-feed loop: connect, hand each message to the `Cursor`, reconnect\n"
        "after its delay.",
    ),
)

# Whole words, in order: longer names before the names they contain.
NAMES = (
    ("vm_registry.client.aio", "vm_registry.client.sync"),
    ("AsyncRegistryClient", "RegistryClient"),
    ("AsyncBaseTransport", "BaseTransport"),
    ("AsyncClient", "Client"),
    ("AsyncGenerator[WatchItem, None]", "Generator[WatchItem, None, None]"),
    ("AsyncGenerator", "Generator"),
    ("aclose", "close"),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
    ("aiter_sse", "iter_sse"),
    ("aread", "read"),
    ("asyncio.sleep", "time.sleep"),
    ("import asyncio", "import time"),
    ("watch_aio", "watch_sync"),
    ("heartbeat_aio", "heartbeat_sync"),
    ("watch_async", "watch_sync"),
)
KEYWORDS = (
    (re.compile(r"\bawait "), ""),
    (re.compile(r"\basync (def|with|for)\b"), r"\1"),
)
HEADER = "# Generated from {source} by `python -m ops.unasync`: edit that file, not this one.\n"


def _swap(text: str) -> str:
    for old, new in NAMES:
        text = re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, text)
    for pattern, replacement in KEYWORDS:
        text = pattern.sub(replacement, text)
    return text


def _ruff(args: list[str], text: str, name: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", str(name), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return done.stdout


def generate(source: Path, target: Path, docstring: str) -> str:
    text = source.read_text()
    body = text[text.index('"""', 3) + 3 :]  # everything after the source's docstring
    text = f'"""{docstring}"""' + _swap(body)
    text = _ruff(["check", "--fix-only", "--select", "I,F401", "--quiet"], text, target)
    text = _ruff(["format", "--quiet"], text, target)
    return HEADER.format(source=source.name) + text


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for source, target, docstring in FILES:
        wanted = generate(source, target, docstring)
        if target.exists() and target.read_text() == wanted:
            continue
        if check:
            stale.append(target.relative_to(ROOT))
        else:
            target.write_text(wanted)
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        names = ", ".join(str(name) for name in stale)
        print(f"stale generated files: {names}; run `python -m ops.unasync`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
