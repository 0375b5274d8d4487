"""`api.headers.secure`, what the outer layer (api/request_log.py) puts on every answer, in
isolation; test_defaults.py checks the same on the real server, the router's own 404 and 405
and the lean routes included."""

from __future__ import annotations

from vm_registry.api.headers import SECURITY_HEADERS, secured


def test_every_security_header_and_no_store_are_added() -> None:
    out = secured([(b"content-type", b"application/json")])
    assert out[0] == (b"content-type", b"application/json")
    assert out[1:] == [*SECURITY_HEADERS, (b"cache-control", b"no-store")]


def test_headers_a_response_set_itself_are_kept() -> None:
    out = secured([(b"Cache-Control", b"max-age=5"), (b"x-frame-options", b"SAMEORIGIN")])
    assert (b"Cache-Control", b"max-age=5") in out and (b"cache-control", b"no-store") not in out
    assert [v for k, v in out if k.lower() == b"x-frame-options"] == [b"SAMEORIGIN"]
    assert len(out) == 2 + len(SECURITY_HEADERS) - 1


def test_no_headers_at_all() -> None:
    assert secured(None) == [*SECURITY_HEADERS, (b"cache-control", b"no-store")]
