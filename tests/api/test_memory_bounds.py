"""Issue #11, 1: a writer could exhaust the server's memory.

150 PATCHes with 900 KB of metadata took the server from 62 MB to 472 MB, for good: the feed's
in-memory tail was bounded by count only, and nothing bounded an entry below the 1 MiB body
limit. Now:

- an entry's services and metadata together may take `--max-entry-bytes` (64 KiB) encoded, and
  one JSON value per 16 bytes of that; past it, 413 naming the limit, and nothing is written;
- the tail is bounded by bytes too (`--feed-tail-bytes`), and holds encoded frames only;
- registration past `--max-vms` gets 507, decided in commit order, and nothing is written.

The PATCH loop of the issue is run twice: against the defaults (every PATCH is refused), and
with the entry limit raised to the body limit, where the tail's byte bound is what holds.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.conftest import vm
from tests.support.answers import error_of
from tests.support.fixtures import http_fixture, server_fixture
from tests.support.memory import MiB, rss
from tests.support.server import ServerProcess

PAD = {"metadata": {"pad": "x" * 900_000}}
TAIL_BYTES = 16 * MiB


def patch_loop(server: ServerProcess, times: int = 150) -> list[int]:
    body = json.dumps(PAD).encode()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/registry/vms", json=vm("big")).status_code == 201
        return [http.patch("/registry/vms/big", content=body).status_code for _ in range(times)]


default = server_fixture("bounds")


http = http_fixture("default", timeout=30)


def test_the_issues_patch_loop_is_refused_at_the_default_entry_limit(
    default: ServerProcess, http: httpx.Client
) -> None:
    before = rss(default)
    assert set(patch_loop(default, 30)) == {413}
    message = error_of(http.patch("/registry/vms/big", json=PAD), 413)
    assert "65536 bytes" in message and "--max-entry-bytes" in message
    assert "metadata" not in http.get("/registry/vms/big").json()
    assert rss(default) - before < 32 * MiB


def test_a_registration_over_the_entry_limit_is_413_and_writes_nothing(
    http: httpx.Client,
) -> None:
    revision = http.get("/health").json()["revision"]
    services = [{"name": f"s{n}", "port": 1000 + n} for n in range(64)]
    body = vm("too-big", services=services, metadata={"notes": "y" * 64_000})
    assert "65536 bytes" in error_of(http.post("/registry/vms", json=body), 413)
    assert http.get("/registry/vms/too-big").status_code == 404
    assert http.get("/health").json()["revision"] == revision


def test_many_small_values_count_against_the_entry(http: httpx.Client) -> None:
    body = vm("many-values", metadata={"a": [{} for _ in range(5000)]})  # 15 KB, 5,000 values
    assert "JSON values" in error_of(http.post("/registry/vms", json=body), 413)


def test_an_update_that_grows_the_entry_past_the_limit_is_413(http: httpx.Client) -> None:
    half = {"notes": "z" * 40_000}
    assert http.post("/registry/vms", json=vm("grows", metadata=half)).status_code == 201
    services = [{"name": "s" * 500, "port": 1000 + n} for n in range(60)]  # ~33 KB
    answer = http.patch("/registry/vms/grows", json={"services": services})
    assert "bytes" in error_of(answer, 413)
    assert "services" not in http.get("/registry/vms/grows").json()
    # Replacing the metadata at the same time makes room: that fits.
    fits = http.patch("/registry/vms/grows", json={"services": services, "metadata": None})
    assert fits.status_code == 200, fits.text


def test_a_body_too_large_for_any_entry_is_refused_before_parsing(http: httpx.Client) -> None:
    # 300 KB of empty objects: 7 MB as Python objects, had it been parsed.
    raw = b'{"id":"x","metadata":{"a":[' + b",".join([b"{}"] * 100_000) + b"]}}"
    message = error_of(http.post("/registry/vms", content=raw), 413)
    assert "a write may be at most 196608" in message


def test_a_pretty_printed_entry_near_the_limit_is_accepted(http: httpx.Client) -> None:
    metadata = {f"key-{n:04d}": "v" * 40 for n in range(1200)}  # ~62 KB compact
    raw = json.dumps(vm("pretty", metadata=metadata), indent=8).encode()
    assert len(raw) > 64 * 1024
    answer = http.post("/registry/vms", content=raw)
    assert answer.status_code == 201, answer.text


def test_an_entry_at_the_limit_is_accepted(http: httpx.Client) -> None:
    metadata = {"notes": "n" * (64 * 1024 - 14)}  # {"notes":"..."} is 12 bytes of syntax
    answer = http.post("/registry/vms", json=vm("at-the-limit", metadata=metadata))
    assert answer.status_code == 201, answer.text


def test_the_tail_byte_bound_holds_the_issues_patch_loop(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "registry.db",
        args=["--max-entry-bytes", str(MiB), "--feed-tail-bytes", str(TAIL_BYTES)],
    ).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            http.post("/registry/vms", json=vm("warm-up")).raise_for_status()
        before = rss(server)
        assert set(patch_loop(server)) == {200}
        grown = rss(server) - before
        # The documented worst case (docs/reliability.md, Memory): per VM 6 x the entry limit
        # + 32 KiB, the tail, and 20 MiB of allocator slack. Without the byte bound the tail
        # held all 150 frames of 1.8 MB each: 270 MiB.
        bound = 2 * (6 * MiB + 32 * 1024) + TAIL_BYTES + 20 * MiB
        assert grown < bound, f"RSS grew {grown / MiB:.0f} MiB, over {bound / MiB:.0f} MiB"
    finally:
        server.kill()


def test_registration_past_the_vm_cap_is_507_and_writes_nothing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "registry.db", args=["--max-vms", "5"]).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for n in range(3):
                assert http.post("/registry/vms", json=vm(f"cap-{n}")).status_code == 201

            def register(n: int) -> int:
                return http.post("/registry/vms", json=vm(f"race-{n}")).status_code

            # Decided in commit order: of ten at once, exactly two fit.
            with ThreadPoolExecutor(10) as pool:
                statuses = sorted(pool.map(register, range(10)))
            assert statuses == [201] * 2 + [507] * 8
            revision = http.get("/health").json()["revision"]
            message = error_of(http.post("/registry/vms", json=vm("one-more")), 507)
            assert "--max-vms 5" in message
            assert http.get("/health").json()["revision"] == revision
            assert http.get("/registry/vms/one-more").status_code == 404
            assert http.delete("/registry/vms/cap-0").status_code == 200
            assert http.post("/registry/vms", json=vm("one-more")).status_code == 201
    finally:
        server.kill()
