-- A folder is a sample (issue "Sample reports"): what was examined, for the report on a seed lot.
CREATE TABLE IF NOT EXISTS folder_sample (
    folder_id  uuid PRIMARY KEY REFERENCES picture_set(id) ON DELETE CASCADE,
    weight_g   double precision NOT NULL CHECK (weight_g > 0 AND weight_g < 'Infinity'),
    lot        text,
    crop       text,
    notes      text,
    updated_by text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
