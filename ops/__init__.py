"""Operational tooling that is not part of the installed package: the benchmark suite."""
