"""The pure domain: entries, events, commands and the fold. No I/O, no clock, no HTTP."""
