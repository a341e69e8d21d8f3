-- Blobs that a failed unit of work or a folder deletion could not remove (the blob store was
-- away): swept again by every worker until they are gone, so an outage leaves no orphan behind.
CREATE TABLE IF NOT EXISTS blob_deletion (
    container  text NOT NULL,
    name       text NOT NULL,
    since      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (container, name)
);
