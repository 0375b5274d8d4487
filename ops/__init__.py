"""Operational tooling that is not part of the installed package: the benchmark suite
(`bench/`), and the deployment files (`systemd/`, `container/`, `nginx/`; docs/operations.md)."""
