-- The effective nachet_0.0.11 schema (datastore-spec §1.2-§1.3), written so that it is a no-op on
-- an existing Nachet database: every object is created only when missing.

CREATE TABLE IF NOT EXISTS users (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email             varchar(255) NOT NULL,
    registration_date timestamp NOT NULL DEFAULT now(),
    updated_at        timestamp NOT NULL DEFAULT now(),
    default_set_id    uuid
);

CREATE TABLE IF NOT EXISTS picture_set (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    picture_set json NOT NULL,
    owner_id    uuid NOT NULL REFERENCES users(id),
    upload_date date NOT NULL DEFAULT current_timestamp,
    name        text
);

DO $$ BEGIN
    ALTER TABLE users ADD CONSTRAINT users_default_set_id_fkey
        FOREIGN KEY (default_set_id) REFERENCES picture_set(id) ON DELETE SET NULL;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS picture (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    picture        json NOT NULL,
    picture_set_id uuid NOT NULL REFERENCES picture_set(id) ON DELETE CASCADE,
    nb_obj         integer NOT NULL,
    verified       boolean NOT NULL DEFAULT false,
    upload_date    timestamp NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS object_type (
    id   serial PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE IF NOT EXISTS seed (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL,
    object_type_id integer GENERATED ALWAYS AS (1) STORED
);

CREATE TABLE IF NOT EXISTS picture_seed (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    picture_id  uuid NOT NULL REFERENCES picture(id) ON DELETE CASCADE,
    seed_id     uuid NOT NULL REFERENCES seed(id),
    upload_date timestamp NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS task (
    id   serial PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE IF NOT EXISTS model (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL,
    endpoint_name  text NOT NULL,
    task_id        integer NOT NULL REFERENCES task(id),
    upload_date    timestamp DEFAULT now(),
    active_version uuid
);

CREATE TABLE IF NOT EXISTS model_version (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    model_id    uuid NOT NULL REFERENCES model(id),
    data        json NOT NULL,
    version     text NOT NULL,
    upload_date timestamp DEFAULT now()
);

DO $$ BEGIN
    ALTER TABLE model ADD CONSTRAINT model_active_version_fkey
        FOREIGN KEY (active_version) REFERENCES model_version(id);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- Column order (id, name, active, is_default, data) is relied on by the original datastore.
CREATE TABLE IF NOT EXISTS pipeline (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    active     boolean NOT NULL DEFAULT false,
    is_default boolean NOT NULL DEFAULT false,
    data       json NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS pipeline_default_unique ON pipeline (is_default) WHERE is_default;

CREATE TABLE IF NOT EXISTS pipeline_model (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pipeline_id uuid NOT NULL REFERENCES pipeline(id),
    model_id    uuid NOT NULL REFERENCES model(id)
);

CREATE TABLE IF NOT EXISTS pipeline_default (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pipeline_id uuid REFERENCES pipeline(id),
    user_id     uuid REFERENCES users(id)
);

CREATE TABLE IF NOT EXISTS inference (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    inference        json NOT NULL,
    picture_id       uuid NOT NULL REFERENCES picture(id) ON DELETE CASCADE,
    upload_date      timestamp DEFAULT now(),
    update_at        timestamp DEFAULT now(),
    user_id          uuid NOT NULL REFERENCES users(id),
    feedback_user_id uuid,
    verified         boolean NOT NULL DEFAULT false,
    pipeline_id      uuid REFERENCES pipeline(id)
);

-- Column order matters: the original reads `SELECT *` row index 4 as verified_id.
CREATE TABLE IF NOT EXISTS object (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    box_metadata     json NOT NULL,
    inference_id     uuid NOT NULL REFERENCES inference(id) ON DELETE CASCADE,
    type_id          integer NOT NULL REFERENCES object_type(id),
    verified_id      uuid,
    valid            boolean NOT NULL DEFAULT true,
    top_id           uuid,
    upload_date      timestamp DEFAULT now(),
    update_at        timestamp DEFAULT now(),
    manual_detection boolean NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS seed_obj (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seed_id   uuid NOT NULL REFERENCES seed(id),
    object_id uuid NOT NULL REFERENCES object(id) ON DELETE CASCADE,
    score     float8 NOT NULL
);

-- A folder created without a name is named after its own id.
CREATE OR REPLACE FUNCTION picture_set_default_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.name := NEW.id::text;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS picture_set_default_name_trigger ON picture_set;
CREATE TRIGGER picture_set_default_name_trigger BEFORE INSERT ON picture_set
    FOR EACH ROW WHEN (NEW.name IS NULL) EXECUTE FUNCTION picture_set_default_name();

-- At most one default pipeline: setting one clears the others.
CREATE OR REPLACE FUNCTION pipeline_default() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.is_default THEN
        UPDATE pipeline SET is_default = false WHERE id <> NEW.id AND is_default;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS pipeline_default_trigger ON pipeline;
CREATE TRIGGER pipeline_default_trigger BEFORE INSERT OR UPDATE ON pipeline
    FOR EACH ROW EXECUTE FUNCTION pipeline_default();

-- A verified inference marks its picture as validated, one picture_seed row per verified object.
CREATE OR REPLACE FUNCTION verified_inference() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO picture_seed (picture_id, seed_id)
    SELECT NEW.picture_id, so.seed_id
      FROM object o JOIN seed_obj so ON so.id = o.verified_id
     WHERE o.inference_id = NEW.id;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS verified_inference_trigger ON inference;
CREATE TRIGGER verified_inference_trigger AFTER UPDATE ON inference
    FOR EACH ROW WHEN (NEW.verified = true) EXECUTE FUNCTION verified_inference();
