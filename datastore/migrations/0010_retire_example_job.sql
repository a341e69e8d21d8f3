-- The learning queue moves to the task engine (procrastinate, migration 0009): every example job
-- still queued becomes a `learn_examples` task on the `learning` queue, then the hand-written
-- queue table goes.
SELECT procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW(
        'learning', 'learn_examples', 0, NULL, NULL,
        jsonb_build_object(
            'folder', p.picture_set_id::text,
            'sources', jsonb_build_array(jsonb_build_object(
                'picture_id', j.picture_id::text, 'seed_id', j.seed_id::text,
                'object_id', j.object_id::text, 'box', j.box::jsonb, 'source', j.source))),
        NULL)::procrastinate_job_to_defer_v1
      FROM example_job j JOIN picture p ON p.id = j.picture_id
     ORDER BY j.id))
 WHERE EXISTS (SELECT 1 FROM example_job);
DROP TABLE example_job;

-- Model results by picture content and pipeline revision (issue "Background work"): a second
-- /inf of the same bytes with the same pipeline calls no model. Unlogged: a cache, safe to lose.
CREATE UNLOGGED TABLE IF NOT EXISTS model_result (
    picture_sha256 text NOT NULL,
    pipeline_key   text NOT NULL,
    result         jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (picture_sha256, pipeline_key)
);
CREATE INDEX IF NOT EXISTS model_result_created_idx ON model_result (created_at);

-- Jobs users can see: classify every picture of a folder with a pipeline.
CREATE TABLE IF NOT EXISTS folder_job (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    folder_id   uuid REFERENCES picture_set(id) ON DELETE SET NULL,
    model_name  text NOT NULL,
    cancelled   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS folder_job_item (
    job_id       uuid NOT NULL REFERENCES folder_job(id) ON DELETE CASCADE,
    picture_id   uuid NOT NULL,
    inference_id uuid,
    error        text,
    finished_at  timestamptz,
    PRIMARY KEY (job_id, picture_id)
);
