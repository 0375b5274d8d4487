"""What the registry tells its operators: Prometheus metrics and structured logs.

Everything here observes the service from outside (a subclass of the writer, counters the feed
keeps anyway, the projection read at scrape time), so the hot paths carry no bookkeeping of
their own for it.
"""
