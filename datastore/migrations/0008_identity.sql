-- Identity: an admin flag on users, personal API tokens (only their SHA-256 is stored) and the
-- per-caller rate-limit counters every worker and replica shares.
ALTER TABLE users ADD COLUMN IF NOT EXISTS is_admin boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS api_token (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        text NOT NULL DEFAULT '',
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX IF NOT EXISTS api_token_user_idx ON api_token (user_id);

-- GCRA: one row per (limit, caller) holding its theoretical arrival time. Unlogged: the counters
-- are safe to lose in a crash, and cheaper to write on every limited request.
CREATE UNLOGGED TABLE IF NOT EXISTS rate_limit (
    key  text PRIMARY KEY,
    tat  timestamptz NOT NULL
);
