"""Command-line interface: `vm-registry <command>`.

Each command lives in its own module and contributes a parser through `register(subparsers)`.
`main.py` only wires them together, so adding a command never touches another one.
"""
