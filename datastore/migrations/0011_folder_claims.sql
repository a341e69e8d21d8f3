-- Folders are claimed before their marker blob is written (issue "Integrity II"): the row's
-- unique (owner, name) decides which of two identical requests owns the marker's path. fsck
-- gives a folder this young time to get its marker, as it does a blob in flight.
ALTER TABLE picture_set ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
