"""A change-feed watcher on its own thread: what a dashboard or an agent sees on the stream.

It notices `close()` between lines, so run the server with a short `--keepalive`: the pings
keep lines coming while the log is quiet."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
import orjson


class Watcher:
    def __init__(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.params = dict(params or {})
        self.headers = dict(headers or {})
        self.events: list[dict[str, Any]] = []  # every event frame, as decoded
        self.comments = 0  # keepalive pings and other comment lines
        self.status: int | None = None
        self.head: int | None = None  # the log's head when the stream opened
        self.error: BaseException | None = None
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        assert self.opened.wait(30), "the stream did not open"
        assert self.status == 200, f"the stream answered {self.status}"
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "a watcher hung"

    def wait_for(self, seq: int, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.events and self.events[-1]["seq"] >= seq:
                return True
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        # A read timeout shorter than the keepalive would end the stream; the server pings.
        timeout = httpx.Timeout(10.0, read=30.0)
        try:
            with (
                httpx.Client(base_url=self.url, timeout=timeout, headers=self.headers) as http,
                http.stream("GET", "/registry/stream", params=self.params) as response,
            ):
                self.status = response.status_code
                self.head = int(response.headers.get("x-registry-revision", "-1"))
                self.opened.set()
                if response.status_code != 200:
                    return
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith(":"):
                        self.comments += 1
                    elif line:
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
                    elif fields:
                        self._frame(fields)
                        fields = {}
        except BaseException as error:  # recorded for the test to judge
            self.error = error
        finally:
            self.opened.set()

    def _frame(self, fields: dict[str, str]) -> None:
        kind = fields.get("event", "message")
        if kind in ("snapshot", "bookmark") or "data" not in fields:
            return
        payload = orjson.loads(fields["data"])
        self.events.append(payload)
