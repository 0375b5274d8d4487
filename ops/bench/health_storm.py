"""A probe storm must never delay the API: 500 VMs x 2 checked services, measured.

    python -m ops.bench.health_storm                  # ~1 min; prints a table and JSON
    python -m ops.bench.health_storm --interval 2 --seconds 20

Not part of `make bench`'s numbered table (which the performance work owns) and not part of the
test suite: it runs on its own, with its own servers, and is bounded in time.

How: a separate process serves the probe targets on one loopback port (`/ok*` answers 200,
`/fail*` 500, `/slow*` only after 5 s, past the 2 s probe timeout). The same fleet of 500 VMs,
each with two services that have a `healthPath` (80 % healthy, 10 % failing, 10 % hanging), is
registered on two servers running side by side: one without health checks (the reference) and
one with `--health-checks --check-interval 5` (1,000 probes every 5 s, 200 a second, 100 of
them hanging until the timeout). After a warm-up interval, one keep-alive connection measures
the latency of `GET /registry/vms/{id}` and `POST .../heartbeat`, in `--rounds` windows that
alternate between the servers (so the machine's other load falls on both alike), `--seconds` in
all per server. The result is the ratio of the p50 and p99 latencies with the storm to without,
and the number of probes the storm made meanwhile (from `/metrics`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ops.bench.http1 import Connection, fetch
from ops.bench.load import register_bodies
from ops.bench.outcome import percentile
from ops.bench.server import HOST, Target, free_port, start_server

VMS = 500
SLOW_SECONDS = 5.0


# -- the probe targets, in their own process ---------------------------------------------------


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1]
        if path.startswith(b"/slow"):
            await asyncio.sleep(SLOW_SECONDS)
        status = b"500 Internal Server Error" if path.startswith(b"/fail") else b"200 OK"
        writer.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
        )
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, IndexError):
        pass
    finally:
        writer.close()


async def _serve_targets(port: int) -> None:
    server = await asyncio.start_server(_answer, HOST, port, backlog=4096)
    print("targets ready", flush=True)
    async with server:
        await server.serve_forever()


# -- the harness -------------------------------------------------------------------------------


def fleet(target_port: int) -> list[dict[str, Any]]:
    bodies = []
    for index in range(VMS):
        kind = "fail" if index % 10 == 0 else "slow" if index % 10 == 1 else "ok"
        bodies.append(
            {
                "id": f"storm-{index:04d}",
                "name": f"storm-{index:04d}",
                "role": "worker",
                "address": HOST,
                "registeredBy": "bench",
                "services": [
                    {"name": "rpc", "port": target_port, "healthPath": f"/{kind}/rpc/{index}"},
                    {"name": "board", "port": target_port, "healthPath": f"/ok/board/{index}"},
                ],
            }
        )
    return bodies


async def latencies(target: Target, seconds: float) -> list[float]:
    host, port = target.host_port
    found: list[float] = []
    deadline = time.perf_counter() + seconds
    index = 0
    async with Connection(host, port) as connection:
        while time.perf_counter() < deadline:
            vm_id = f"storm-{index % VMS:04d}"
            for method, path in (
                ("GET", f"/registry/vms/{vm_id}"),
                ("POST", f"/registry/vms/{vm_id}/heartbeat"),
            ):
                started = time.perf_counter()
                response = await connection.request(method, path)
                found.append(time.perf_counter() - started)
                if response.status != 200:
                    raise RuntimeError(f"{method} {path} answered {response.status}")
            index += 1
    return found


def cpu_seconds(server: Target) -> float:
    """CPU time of the server's own process (not its probe child): the API's share."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def probes_made(target: Target) -> float:
    text = (await fetch(target.url, "/metrics")).body.decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("vm_registry_health_probes_total{")
    )


async def bench(interval: float, seconds: float, rounds: int) -> dict[str, Any]:
    target_port = free_port()
    targets = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ops.bench.health_storm", "--targets", str(target_port),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    storm_args = [
        "--health-checks",
        "--health-check-allow", HOST,
        "--check-interval", str(interval),
    ]  # fmt: skip
    timings: dict[str, list[float]] = {"quiet": [], "storm": []}
    try:
        assert targets.stdout is not None
        await asyncio.wait_for(targets.stdout.readline(), 30)
        with tempfile.TemporaryDirectory(prefix="health-storm-") as scratch:
            folder = Path(scratch)
            quiet = await start_server(folder / "quiet.db")
            storm = await start_server(folder / "storm.db", extra_args=storm_args)
            try:
                servers = {"quiet": quiet, "storm": storm}
                for server in servers.values():
                    await register_bodies(server.url, fleet(target_port))
                await asyncio.sleep(interval)  # the first round, and its transitions
                before = await probes_made(storm)
                cpu_before = {name: cpu_seconds(server) for name, server in servers.items()}
                # Alternating windows: the machine's other load falls on both alike.
                for _ in range(rounds):
                    for name, server in servers.items():
                        timings[name].extend(await latencies(server, seconds / rounds))
                probes = await probes_made(storm) - before
                cpu = {name: cpu_seconds(s) - cpu_before[name] for name, s in servers.items()}
            finally:
                await quiet.stop()
                await storm.stop()
    finally:
        targets.kill()
        await targets.wait()
    rows = {}
    for name, found in timings.items():
        ordered = sorted(found)
        rows[name] = {
            "server_cpu_s": cpu[name],
            "requests": len(ordered),
            "p50_ms": percentile(ordered, 0.5) * 1000,
            "p99_ms": percentile(ordered, 0.99) * 1000,
        }
    return {
        "vms": VMS,
        "checked_services": 2 * VMS,
        "check_interval_s": interval,
        "probes_during": probes,
        "without_checks": rows["quiet"],
        "with_checks": rows["storm"],
        "p50_ratio": rows["storm"]["p50_ms"] / rows["quiet"]["p50_ms"],
        "p99_ratio": rows["storm"]["p99_ms"] / rows["quiet"]["p99_ms"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench.health_storm")
    parser.add_argument("--interval", type=float, default=5.0, help="--check-interval")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement per server")
    parser.add_argument("--rounds", type=int, default=10, help="alternating windows")
    parser.add_argument("--targets", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.targets is not None:
        asyncio.run(_serve_targets(args.targets))
        return 0
    report = asyncio.run(bench(args.interval, args.seconds, args.rounds))
    quiet, storm = report["without_checks"], report["with_checks"]
    print(f"{'':24} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'server CPU s':>13}")
    for name, row in (("without health checks", quiet), ("with the probe storm", storm)):
        print(
            f"{name:24} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['requests']:9d} "
            f"{row['server_cpu_s']:13.2f}"
        )
    print(f"probes made by the storm server while measured: {report['probes_during']:.0f}")
    print(f"ratio (storm / quiet): p50 {report['p50_ratio']:.2f}, p99 {report['p99_ratio']:.2f}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
