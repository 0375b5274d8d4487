"""The change feed: committed events fanned out to SSE subscribers, with exact resume."""
