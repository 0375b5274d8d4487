"""SSE subscribers on raw asyncio sockets, run as their own process.

    python -m ops.bench.subscribers --host H --port P --count N --path /registry/stream?after=S
        [--vm-prefix PREFIX]    # subscriber i watches one VM: &vm=PREFIX<i, 6 digits>

The process speaks JSON lines with the harness: it connects every subscriber and prints
`{"ready": ...}`; it then reads `{"expect": M, "first": S+1, "drain_s": D}` from stdin (with
`--vm-prefix`, also `"seqs": {vm id: [seq, ...]}`, what each watcher must receive), waits until
every subscriber has seen what it expects (or D seconds passed), and prints the analysis.

Receiving costs as little as possible while the clock runs: a subscriber only stores each
chunk with its arrival time and counts `\\nid:` in it. Frames are parsed after the run. A
delivery's latency is its arrival time minus the event's `at`, the server's clock when the
writer accepted the write, so it covers commit, fan-out and the network.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import re
import resource
import sys
import time
from datetime import datetime
from typing import Any, cast

import orjson

from ops.bench.outcome import percentile

_ID = re.compile(rb"\nid: ?(\d+)\r?\n")
_DATA = re.compile(rb"\ndata: ?(\{[^\r\n]*\})\r?\n")


class Subscriber(asyncio.Protocol):
    def __init__(self, request: bytes, headers: asyncio.Future[int], vm_id: str = "") -> None:
        self.request = request
        self.vm_id = vm_id
        self.headers = headers
        self.chunks: list[bytes] = []
        self.times: list[float] = []
        self.frames = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.times.append(time.time())
        self.chunks.append(data)
        self.frames += data.count(b"\nevent: vm.")  # changes only, not bookmarks
        if not self.headers.done():
            head = b"".join(self.chunks)
            if b"\r\n\r\n" in head:
                status = head.split(b" ", 2)[1]
                self.headers.set_result(int(status) if status.isdigit() else 0)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.headers.done():
            self.headers.set_exception(ConnectionError(f"closed before headers: {exc}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect_all(
    host: str,
    port: int,
    path: str,
    count: int,
    concurrency: int,
    vm_prefix: str | None = None,
    selector_key: str | None = None,
) -> tuple[list[Subscriber], dict[str, int]]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    connected: list[Subscriber] = []
    problems: dict[str, int] = {}

    async def one(index: int) -> None:
        vm_id = "" if vm_prefix is None else f"{vm_prefix}{index:06d}"
        if vm_prefix is None:
            target = path
        elif selector_key is None:
            target = f"{path}&vm={vm_id}"
        else:  # P17: the same VM, found by a metadata value that only it holds
            target = f"{path}&selector={selector_key}%3D{vm_id}"
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
            "Cache-Control: no-cache\r\n\r\n"
        ).encode()
        async with gate:
            headers: asyncio.Future[int] = loop.create_future()
            try:
                _, subscriber = await loop.create_connection(
                    lambda: Subscriber(request, headers, vm_id), host, port
                )
                status = await asyncio.wait_for(headers, 30)
            except (OSError, TimeoutError) as error:
                key = type(error).__name__
                problems[key] = problems.get(key, 0) + 1
                return
            if status == 200:
                connected.append(subscriber)
            else:
                problems[f"HTTP {status}"] = problems.get(f"HTTP {status}", 0) + 1
                subscriber.close()

    await asyncio.gather(*(one(index) for index in range(count)))
    return connected, problems


def _epoch_ms(at: Any) -> float:
    if isinstance(at, int | float):
        return float(at)
    return datetime.fromisoformat(str(at).replace("Z", "+00:00")).timestamp() * 1000


def analyse(
    subscribers: list[Subscriber],
    expect: int,
    first: int | None,
    wanted_by_subscriber: list[set[int]] | None = None,
) -> dict[str, Any]:
    streams = []
    for subscriber in subscribers:
        raw = b"".join(subscriber.chunks)
        ends, total = [], 0
        for chunk in subscriber.chunks:
            total += len(chunk)
            ends.append(total)
        streams.append((raw, ends, subscriber.times))
    # Event times come from the payloads, read from as few streams as it takes.
    at_ms: dict[int, float] = {}
    for raw, _, _ in streams:
        for found in _DATA.finditer(raw):
            event = orjson.loads(found.group(1))
            if isinstance(event, dict) and "seq" in event and event["seq"] not in at_ms:
                at_ms[event["seq"]] = _epoch_ms(event.get("at"))
        if (
            wanted_by_subscriber is None
            and first is not None
            and all(s in at_ms for s in range(first, first + expect))
        ):
            break
    latencies: list[float] = []
    lost = duplicates = out_of_order = complete = 0
    for index, (raw, ends, times) in enumerate(streams):
        seqs, arrivals = [], []
        for found in _ID.finditer(raw):
            seqs.append(int(found.group(1)))
            arrivals.append(times[min(bisect.bisect_right(ends, found.start()), len(times) - 1)])
        if wanted_by_subscriber is not None:
            wanted = wanted_by_subscriber[index]
            # Bookmarks carry ids too (other VMs' seqs): only this watcher's events count.
            kept = [(seq, at) for seq, at in zip(seqs, arrivals, strict=True) if seq in wanted]
            seqs, arrivals = [seq for seq, _ in kept], [at for _, at in kept]
        else:
            start = first if first is not None else (seqs[0] if seqs else 0)
            wanted = set(range(start, start + expect))
        seen = set(seqs)
        missing = len(wanted - seen)
        lost += missing
        duplicates += len(seqs) - len(seen)
        out_of_order += sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
        complete += missing == 0
        for seq, arrived in zip(seqs, arrivals, strict=True):
            if seq in wanted and seq in at_ms:
                latencies.append(arrived * 1000 - at_ms[seq])
    latencies.sort()
    return {
        "subscribers": len(subscribers),
        "expected_per_subscriber": expect,
        "complete": complete,
        "lost": lost,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "deliveries": len(latencies),
        "latency_ms": {
            "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else None,
        },
    }


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(message).decode() + "\n")
    sys.stdout.flush()


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    subscribers, problems = await connect_all(
        args.host,
        args.port,
        args.path,
        args.count,
        args.concurrency,
        args.vm_prefix,
        args.selector_key,
    )
    _say({"ready": len(subscribers), "problems": problems})
    line = await loop.run_in_executor(None, sys.stdin.readline)
    if not line:
        return
    command = orjson.loads(line)
    expect, first = int(command["expect"]), command.get("first")
    wanted: list[set[int]] | None = None
    counts = [expect] * len(subscribers)
    if args.vm_prefix is not None:
        seqs = command["seqs"]
        wanted = [set(seqs.get(s.vm_id, ())) for s in subscribers]
        counts = [len(w) for w in wanted]
    started = time.perf_counter()
    deadline = started + float(command.get("drain_s", 5.0))
    while time.perf_counter() < deadline and any(
        s.frames < n for s, n in zip(subscribers, counts, strict=True)
    ):
        await asyncio.sleep(0.02)
    drained = time.perf_counter() - started
    for subscriber in subscribers:
        subscriber.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = analyse(subscribers, expect, first, wanted)
    report.update(drain_s=round(drained, 3), client_cpu_s=round(usage.ru_utime + usage.ru_stime, 2))
    _say({"result": report})


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/registry/stream")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--vm-prefix", help="subscriber i adds &vm=<prefix><i as 6 digits>")
    parser.add_argument(
        "--selector-key", help="with --vm-prefix: &selector=KEY=<that VM id> instead of &vm="
    )
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args))
    else:
        uvloop.run(main(args))


if __name__ == "__main__":
    cli()
