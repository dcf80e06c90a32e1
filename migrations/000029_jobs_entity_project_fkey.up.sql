-- A job's entity and project were two foreign keys, each checked by a query
-- per inserted job. One key on the pair says as much (the entity's own key
-- holds its project) and more (the job's project is its entity's), for one
-- check per job.
CREATE UNIQUE INDEX entities_id_project ON entities (id, project_id);
ALTER TABLE jobs
    ADD CONSTRAINT jobs_entity_project_fkey FOREIGN KEY (entity_id, project_id)
        REFERENCES entities (id, project_id) ON DELETE CASCADE,
    DROP CONSTRAINT jobs_entity_id_fkey,
    DROP CONSTRAINT jobs_project_id_fkey;
