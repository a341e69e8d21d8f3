-- Example jobs are claimed with a lease instead of a row lock held while the worker computes:
-- a long transaction holding a job row deadlocked with a folder deletion cascading to it.
ALTER TABLE example_job ADD COLUMN IF NOT EXISTS claim uuid;
ALTER TABLE example_job ADD COLUMN IF NOT EXISTS claimed_until timestamptz;

-- "Unknown seed" is the classifier's placeholder, not a species: it never teaches anything.
DELETE FROM example_job j USING seed s WHERE s.id = j.seed_id AND lower(s.name) = 'unknown seed';
DELETE FROM seed_example e USING seed s WHERE s.id = e.seed_id AND lower(s.name) = 'unknown seed';
