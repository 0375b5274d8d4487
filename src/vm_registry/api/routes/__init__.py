"""Route handlers, one module per resource. Handlers stay thin: request in, command or query
out, response shaped by `api.responses`."""
