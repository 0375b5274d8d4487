"""Security headers on every response, so that errors, 401s, the router's own 404 and 405, the
lean hot routes, the answers the HTTP protocol gives itself (`api/wire.py`) and the SSE stream
all get them too.

They are added by the outermost layer (`api/request_log.py`), in the same send wrapper that
echoes the request id: a litestar `before_send` hook would cost a second wrapper per message
and would not see the lean path's answers (`api/lean.py`).

The API serves JSON only, so the content security policy forbids everything: a response can
never be turned into a page that runs script.
"""

from __future__ import annotations

from typing import Any

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
NO_STORE = (b"cache-control", b"no-store")
_NAMES = frozenset(name for name, _ in (*SECURITY_HEADERS, NO_STORE))


def secure(headers: list[tuple[bytes, bytes]]) -> None:
    """Append the security headers (and `cache-control: no-store`) that `headers` does not set
    itself, in place."""
    present = [name.lower() for name, _ in headers if name.lower() in _NAMES]
    if not present:  # the common case: nothing of ours was set, so no per-name test
        headers.extend(SECURITY_HEADERS)
        headers.append(NO_STORE)
        return
    headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
    if b"cache-control" not in present:
        headers.append(NO_STORE)


def secured(headers: Any) -> list[tuple[bytes, bytes]]:
    """A copy of a response start's headers with `secure` applied."""
    out = list(headers) if headers else []
    secure(out)
    return out
