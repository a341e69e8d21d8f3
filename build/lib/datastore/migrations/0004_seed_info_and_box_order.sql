-- Descriptive seed records (the nachet-data `seeds/all.json` of the original), served by
-- /seed-data/<name> and refreshed by /reload-seed-data; shared by every worker and replica.
CREATE TABLE IF NOT EXISTS seed_info (
    name       text PRIMARY KEY,
    data       json NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Boxes come back in the order the model gave them (rows inserted in one transaction share
-- their upload_date, so that column cannot order them).
ALTER TABLE object ADD COLUMN IF NOT EXISTS seq bigserial;
