"""One health probe: `GET http://{address}:{port}{healthPath}`, judged by its status alone.

Only a 2xx passes. Redirects are not followed (a redirect could lead anywhere, outside the
allow-list included) and count as failures. The body is never read: a service that answers
with gigabytes costs the registry nothing. Proxies from the environment are ignored, so a probe
goes straight to the address that was checked against the allow-list, and it connects to that
very IP address (the name goes in the Host header) so DNS cannot change its mind in between.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import httpx

from vm_registry.service.allow_list import (
    AllowList,
    IpAddress,
    is_host_name,
    normalised,
    parse_ip,
)

USER_AGENT: Final = "vm-registry-health-check"
MAX_DETAIL: Final = 200

# Results, as /metrics counts them.
PASSING: Final = "passing"
FAILING: Final = "failing"  # answered, but not with a 2xx
TIMEOUT: Final = "timeout"
UNREACHABLE: Final = "unreachable"  # no answer: DNS, refused connection, broken HTTP
REFUSED: Final = "refused"  # not probed: outside the allow-list, or not a probe-able target
RESULTS: Final = (PASSING, FAILING, TIMEOUT, UNREACHABLE, REFUSED)


class ProbeFailure(Exception):
    """The prober could not finish a round (its process died, or stopped answering): the
    verdicts it gave stand, the others say nothing about their services."""


@dataclass(frozen=True, slots=True)
class Target:
    vm_id: str
    service: str
    address: str
    port: int
    path: str


@dataclass(frozen=True, slots=True)
class ProbeResult:
    result: str  # one of RESULTS
    detail: str

    @property
    def passed(self) -> bool:
        return self.result == PASSING


def _bad_path(path: str) -> bool:
    return (
        not path.startswith("/")
        or path.startswith("//")
        or not path.isascii()
        or any(ch.isspace() or ch == "#" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path)
    )


async def _resolve(host: str, port: int) -> list[IpAddress]:
    """The addresses to check and connect to, normalised (`allow_list.normalised`): the probe
    connects to the very address the allow-list judged."""
    literal = parse_ip(host)
    if literal is not None:
        return [normalised(literal)]
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IpAddress] = []
    for *_, sockaddr in infos:
        address = parse_ip(str(sockaddr[0]).split("%", 1)[0])
        if address is not None:
            address = normalised(address)
        if address is not None and address not in found:
            found.append(address)
    return found


class Prober:
    def __init__(self, allow: AllowList, timeout: float, concurrency: int) -> None:
        self.allow = allow
        self.timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._http = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=timeout,
            # No keep-alive: each target is probed once per interval, and a pool of a thousand
            # idle connections would only hold sockets.
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=0),
            headers={"User-Agent": USER_AGENT, "Accept": "*/*"},
        )

    def start(self) -> None:
        """Nothing to start: probes run on the caller's loop (see `ProbeThread` for another)."""

    async def rest(self) -> None:
        """Nothing held between rounds but the HTTP client, which costs nothing idle."""

    async def close(self) -> None:
        await self._http.aclose()

    async def probe_round(
        self, targets: Sequence[Target], spread: float
    ) -> AsyncGenerator[tuple[Target, ProbeResult], None]:
        """Probe each target once (see `run_round`), yielding each verdict as it comes."""
        found: asyncio.Queue[tuple[Target, ProbeResult] | None] = asyncio.Queue()
        runner = asyncio.create_task(
            run_round(
                self.probe, listed(targets), len(targets), spread, self._slots, found.put_nowait
            )
        )
        runner.add_done_callback(lambda _: found.put_nowait(None))
        try:
            while (item := await found.get()) is not None:
                yield item
            await runner
        finally:
            runner.cancel()

    async def probe(self, target: Target) -> ProbeResult:
        found = await self._verdict(target)
        # Clipped: a detail may quote the address, up to 1,024 characters, and goes into events.
        return ProbeResult(found.result, _clip(found.detail))

    async def _verdict(self, target: Target) -> ProbeResult:
        host = target.address.strip()
        if parse_ip(host) is None and not is_host_name(host):
            return ProbeResult(REFUSED, f"address {host!r} is not a host name or IP address")
        if _bad_path(target.path):
            return ProbeResult(REFUSED, f"healthPath {target.path!r} is not an absolute path")
        try:
            async with asyncio.timeout(self.timeout):
                return await self._probe(host, target)
        except TimeoutError:
            return ProbeResult(TIMEOUT, f"no answer within {self.timeout:g} s")

    async def _probe(self, host: str, target: Target) -> ProbeResult:
        try:
            resolved = await _resolve(host, target.port)
        except OSError as error:
            return ProbeResult(UNREACHABLE, f"{host} does not resolve: {error.strerror or error}")
        if not resolved:
            return ProbeResult(UNREACHABLE, f"{host} resolves to no address")
        refusal = self.allow.refusal(host, resolved)
        if refusal is not None:
            return ProbeResult(REFUSED, f"not probed: {refusal}")
        url = httpx.URL(
            scheme="http", host=str(resolved[0]), port=target.port, raw_path=target.path.encode()
        )
        name = f"[{host.strip('[]')}]" if ":" in host else host
        try:
            async with self._http.stream(
                "GET", url, headers={"Host": f"{name}:{target.port}"}
            ) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return ProbeResult(TIMEOUT, f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as error:
            reason = str(error) or type(error).__name__
            return ProbeResult(UNREACHABLE, _clip(f"no HTTP answer: {reason}"))
        if 200 <= status < 300:
            return ProbeResult(PASSING, f"HTTP {status}")
        if 300 <= status < 400:
            return ProbeResult(FAILING, f"HTTP {status} (redirects are not followed)")
        return ProbeResult(FAILING, f"HTTP {status}")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


async def listed(targets: Iterable[Target]) -> AsyncGenerator[Target, None]:
    for target in targets:
        yield target


async def run_round(
    probe: Callable[[Target], Awaitable[ProbeResult]],
    targets: AsyncIterable[Target],
    count: int,
    spread: float,
    slots: asyncio.Semaphore,
    emit: Callable[[tuple[Target, ProbeResult]], None],
) -> None:
    """Probe each of the `count` targets once, starting them evenly over `spread` seconds with
    at most `slots` in flight, so a large fleet costs a steady trickle of requests rather than a
    burst. The targets may still be arriving (the probe process receives a round in pieces)."""
    spacing = spread / max(count, 1)

    async def one(target: Target) -> None:
        try:
            found = await probe(target)
        finally:
            slots.release()
        emit((target, found))

    tasks: list[asyncio.Task[None]] = []
    try:
        index = 0
        async for target in targets:
            if index:
                await asyncio.sleep(spacing)
            index += 1
            await slots.acquire()
            tasks.append(asyncio.create_task(one(target)))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
