#!/bin/sh
# The container's start: migrate, make a production database usable, then serve.
# tini (PID 1) forwards SIGTERM to hypercorn, which stops its workers (and an embedded PostgreSQL).
set -eu
python -m nachet migrate
if [ -n "${NACHET_DB_URL:-}" ]; then
  # an external database starts with no pipeline: install the offline one (kept if others exist)
  python -m nachet pipelines install-builtin --if-empty
  python -m nachet users add --exist-ok example@gmail.com >/dev/null
fi
if [ -n "${DEV_USER_EMAIL:-}" ]; then
  python -m nachet users add --exist-ok "$DEV_USER_EMAIL" >/dev/null  # receives archived folders
fi
exec hypercorn -b "${HOST:-0.0.0.0}:${PORT:-8080}" -w "${WORKERS:-2}" app:app
