"""The benchmark suite behind `make bench` (see README.md beside this file).

Design decisions:
- Load comes from outside the server's process and as cheaply as possible: wrk (C, one thread)
  for HTTP, raw asyncio sockets in a separate process for SSE subscribers, and a raw HTTP/1.1
  client for the harness's own few requests. On two shared cores a Python client would measure
  itself.
- Every figure with a reference is a ratio to it, measured right before it in the same run,
  and the table shows medians over several runs: the machine is shared, so absolute figures
  move with the neighbours' load.
- The server under test is the real `vm-registry serve`, started on loopback on a scratch
  database, or any server given with `--url`. Large fleets and logs are written through the
  registry's own storage API, so their format is the server's, not an imitation.
- Everything is bounded: each measurement has a duration, each wait a timeout, and the run a
  total limit; every process the harness starts is stopped before it returns.
"""
