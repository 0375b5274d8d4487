"""The HTTP API: litestar app composition, routes, and the wire format."""
