"""Nachet's datastore: Postgres metadata through asyncpg (queries/), blob images (blob/), the
embedded server for the default install (embedded.py) and the schema migrations (migrate.py)."""
