"""Plain async query functions: each takes a connection and holds its SQL inline."""
