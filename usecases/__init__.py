"""The use cases: what the service does, each a plain class or set of functions taking the ports
it needs (storage, the engine, the task queue) as arguments; called alike from a route, a CLI
command and a task. No HTTP here (ARCHITECTURE.md)."""
