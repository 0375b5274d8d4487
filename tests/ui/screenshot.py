"""Draws docs/img/dashboard.png: a real registry with a small demo fleet, the real page, the
system's Chromium. Run it with `make screenshot` after changing the page."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support import requires
from tests.support.server import ServerProcess
from tests.ui.conftest import CHROMIUM_ARGS

OUT = Path(__file__).resolve().parents[2] / "docs" / "img" / "dashboard.png"

FLEET = [
    ("infra-7f3a", "registry", "infra", "running", [("registry", 3000)]),
    ("lt-billing-01", "billing-lt", "lieutenant", "running", [("api", 8080)]),
    ("lt-search-02", "search-lt", "lieutenant", "running", [("api", 8080), ("grpc", 9090)]),
    ("wk-billing-11", "billing-worker-1", "worker", "running", [("agent", 7000)]),
    ("wk-billing-12", "billing-worker-2", "worker", "running", [("agent", 7000)]),
    ("wk-search-21", "search-worker-1", "worker", "paused", [("agent", 7000)]),
    ("wk-search-22", "search-worker-2", "worker", "running", [("agent", 7000)]),
    ("golden-py311", "python-3.11-base", "golden", "stopped", []),
]
SILENT = "wk-search-22"  # stops heartbeating, and goes stale


def register(
    http: httpx.Client, vm_id: str, name: str, role: str, status: str, ports: list[tuple[str, int]]
) -> None:
    body = {
        "id": vm_id,
        "name": name,
        "role": role,
        "status": status,
        "address": f"{vm_id}.vm.vers.sh",
        "registeredBy": "orchestrator",
        "services": [{"name": n, "port": p} for n, p in ports],
    }
    http.post("/registry/vms", json=body).raise_for_status()


def main() -> int:
    from playwright.sync_api import sync_playwright

    executable = requires.chromium()
    with tempfile.TemporaryDirectory() as folder:
        server = ServerProcess(Path(folder) / "registry.db", args=["--stale-after", "3"]).start()
        try:
            with httpx.Client(base_url=server.url, timeout=10) as http, sync_playwright() as pw:
                for vm in FLEET:
                    register(http, *vm)
                browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 760})
                page.goto(f"{server.url}/ui")
                page.wait_for_selector('#connection[data-state="live"]')
                for _ in range(8):  # everyone but SILENT keeps checking in
                    for vm_id, *_ in FLEET:
                        if vm_id != SILENT:
                            http.post(f"/registry/vms/{vm_id}/heartbeat")
                    time.sleep(0.5)
                page.wait_for_selector(f'tr[data-id="{SILENT}"].stale')
                http.patch("/registry/vms/wk-search-21", json={"status": "running"})
                register(
                    http,
                    "wk-billing-13",
                    "billing-worker-3",
                    "worker",
                    "running",
                    [("agent", 7000)],
                )
                page.wait_for_selector('tr[data-id="wk-billing-13"].mark-new')
                page.screenshot(path=str(OUT))
                browser.close()
        finally:
            server.kill()
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
