"""The registry's agent tools over the Model Context Protocol (`vm-registry mcp`).

Needs the `mcp` extra (`pip install 'vm-registry[mcp]'`); nothing else imports this package.
"""
