"""`FeedResponse` overrides a private method of sse-starlette (`_send_with_timeout`) to drop a
cancel scope per send. pyproject.toml pins sse-starlette to the major version this was tested
on; this test fails if a release renames the method or changes its signature, so the override
cannot silently stop being called."""

from __future__ import annotations

import inspect

from sse_starlette import EventSourceResponse

from vm_registry.api.routes.stream import FeedResponse


def test_the_overridden_private_method_still_exists_upstream() -> None:
    upstream = vars(EventSourceResponse).get("_send_with_timeout")
    assert upstream is not None, "sse-starlette no longer has _send_with_timeout"
    assert inspect.iscoroutinefunction(upstream)
    assert list(inspect.signature(upstream).parameters) == ["self", "send", "message"]
    assert list(inspect.signature(FeedResponse._send_with_timeout).parameters) == [
        "self",
        "send",
        "message",
    ]


def test_upstream_still_routes_every_send_through_it() -> None:
    # The data sends and the pings both go through the method, so the override sees them all.
    source = inspect.getsource(EventSourceResponse)
    assert source.count("self._send_with_timeout(") >= 2
    assert "send_timeout" in inspect.signature(EventSourceResponse.__init__).parameters
