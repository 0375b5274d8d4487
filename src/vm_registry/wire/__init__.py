"""The JSON shapes on the wire, free of any HTTP framework: how entries and events are rendered
in the camelCase the existing agent-services registry uses, and which fields a request body
may carry. It sits below both `feed/` (which frames events for SSE) and `api/` (which wraps
these shapes in litestar responses, `api/responses.py`); it depends only on the domain."""
