-- Additive improvements: an index for every lookup the queries do, the picture checksum, and
-- the uniqueness the original relied on by luck.

CREATE INDEX IF NOT EXISTS picture_set_owner_idx     ON picture_set (owner_id);
CREATE INDEX IF NOT EXISTS picture_set_id_idx        ON picture (picture_set_id);
CREATE INDEX IF NOT EXISTS picture_seed_picture_idx  ON picture_seed (picture_id);
CREATE INDEX IF NOT EXISTS inference_picture_idx     ON inference (picture_id);
CREATE INDEX IF NOT EXISTS object_inference_idx      ON object (inference_id);
CREATE INDEX IF NOT EXISTS seed_obj_object_idx       ON seed_obj (object_id);
CREATE INDEX IF NOT EXISTS pipeline_model_pipeline_idx ON pipeline_model (pipeline_id);
CREATE INDEX IF NOT EXISTS model_version_model_idx   ON model_version (model_id);
CREATE INDEX IF NOT EXISTS seed_name_lower_idx       ON seed (lower(name));

-- One account per email: the original looked users up with fetchone() and got an arbitrary row.
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (email);
-- One folder name per owner: the original enforced this only through a scan of the blob container.
CREATE UNIQUE INDEX IF NOT EXISTS picture_set_owner_name_key ON picture_set (owner_id, name);

-- The sha256 of the stored bytes, for /image-validation validators and de-duplication.
ALTER TABLE picture ADD COLUMN IF NOT EXISTS sha256 char(64);
CREATE INDEX IF NOT EXISTS picture_sha256_idx ON picture (sha256);

-- Validators handed out by /image-validation, shared by every worker and replica.
CREATE TABLE IF NOT EXISTS image_validator (
    sha256     char(64) PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The verification trigger no longer writes duplicate (picture, seed) rows when it fires again.
CREATE OR REPLACE FUNCTION verified_inference() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO picture_seed (picture_id, seed_id)
    SELECT DISTINCT NEW.picture_id, so.seed_id
      FROM object o JOIN seed_obj so ON so.id = o.verified_id
     WHERE o.inference_id = NEW.id
       AND NOT EXISTS (SELECT 1 FROM picture_seed ps
                        WHERE ps.picture_id = NEW.picture_id AND ps.seed_id = so.seed_id);
    RETURN NEW;
END $$;
