DROP TRIGGER entities_keep_key ON entities;
DROP TRIGGER entities_truncate_jobs ON entities;
DROP TRIGGER entities_delete_jobs ON entities;
DROP TRIGGER jobs_entity_update ON jobs;
DROP TRIGGER jobs_entity_insert ON jobs;
DROP FUNCTION entities_keep_key(), entities_truncate_jobs(), entities_delete_jobs(), jobs_entity_moved(),
    jobs_entity_check(), jobs_entity_lock(bigint[]);
ALTER TABLE jobs
    ADD CONSTRAINT jobs_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    ADD CONSTRAINT jobs_entity_id_fkey FOREIGN KEY (entity_id) REFERENCES entities (id) ON DELETE CASCADE;
