-- Trusted learning (issue "Trusted learning"): an example is pending until a verifier accepts it
-- (NACHET_LEARNING=reviewed; in open mode it is accepted at once), rejected ones teach nothing;
-- the shared classifier is a sequence of immutable versions, each an exact set of examples.
ALTER TABLE users ADD COLUMN IF NOT EXISTS is_verifier boolean NOT NULL DEFAULT false;
ALTER TABLE seed_example ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'accepted';
ALTER TABLE seed_example ADD COLUMN IF NOT EXISTS reviewed_by text;
ALTER TABLE seed_example ADD COLUMN IF NOT EXISTS reviewed_at timestamptz;
DO $$ BEGIN
    ALTER TABLE seed_example ADD CONSTRAINT seed_example_state
        CHECK (state IN ('pending', 'accepted', 'rejected'));
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE INDEX IF NOT EXISTS seed_example_pending_idx ON seed_example (state) WHERE state <> 'accepted';

CREATE TABLE IF NOT EXISTS classifier_version (
    id          text PRIMARY KEY,        -- sha256 of the example ids and the embedder's identity
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    examples    bigint[] NOT NULL,
    counts      json NOT NULL,           -- seed name -> examples
    score       json,                    -- cross-validated top-1: {"overall": .., "classes": {..}}
    embedder    text NOT NULL,
    state       text NOT NULL CHECK (state IN ('active', 'candidate', 'retired'))
);
CREATE UNIQUE INDEX IF NOT EXISTS classifier_version_one_active
    ON classifier_version ((state)) WHERE state = 'active';
