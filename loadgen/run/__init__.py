"""Running loadgen: the command line, config and ids files, preflight checks, the locustfile
that wires every layer together, and the supervision of child processes."""
