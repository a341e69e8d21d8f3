-- Removal that works (issue "Trusted learning"): examples deleted with their picture, folder or
-- user (foreign-key cascades) tell every worker to refit at commit, as new examples do, so their
-- effect leaves every answer within seconds instead of at the next periodic refresh.
CREATE OR REPLACE FUNCTION nachet_examples_removed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('nachet_examples', '');
    RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS seed_example_removed ON seed_example;
CREATE TRIGGER seed_example_removed AFTER DELETE ON seed_example
    FOR EACH STATEMENT EXECUTE FUNCTION nachet_examples_removed();
