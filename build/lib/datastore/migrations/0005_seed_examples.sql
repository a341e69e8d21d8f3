-- The built-in classifier's training examples (features of labelled seed crops) and the queue
-- of pictures and boxes waiting to become examples. Shared by every worker and replica.
CREATE TABLE IF NOT EXISTS seed_example (
    id         bigserial PRIMARY KEY,
    seed_id    uuid NOT NULL REFERENCES seed(id) ON DELETE CASCADE,
    embedding  bytea,            -- float32[1280], EfficientNet-Lite0 (NULL without the embedder)
    features   bytea NOT NULL,   -- float32[61], hand-made colour/texture/shape features
    source     text NOT NULL,    -- 'upload' (batch import with a seed name) or 'feedback'
    picture_id uuid REFERENCES picture(id) ON DELETE CASCADE,
    object_id  uuid REFERENCES object(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS seed_example_picture_idx ON seed_example (picture_id);
CREATE INDEX IF NOT EXISTS seed_example_object_idx ON seed_example (object_id);

CREATE TABLE IF NOT EXISTS example_job (
    id         bigserial PRIMARY KEY,
    picture_id uuid NOT NULL REFERENCES picture(id) ON DELETE CASCADE,
    seed_id    uuid NOT NULL REFERENCES seed(id) ON DELETE CASCADE,
    object_id  uuid REFERENCES object(id) ON DELETE CASCADE,
    box        json,             -- pixel box of a verified object; NULL: find the seeds in the picture
    source     text NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
