"""The engine: pipelines as data (read through a port storage implements, registry.py), one
adapter per model protocol, the HTTP model client, the built-in models (local/), image checks,
crops, measurements and the original's post-processing of boxes (scaling, overlap, colours). It
imports neither storage nor the HTTP layer."""
