DROP TRIGGER jobs_keep_id ON jobs;
DROP TRIGGER jobs_truncate_edges ON jobs;
DROP TRIGGER jobs_delete_edges ON jobs;
DROP TRIGGER job_edges_update ON job_edges;
DROP TRIGGER job_edges_insert ON job_edges;
DROP FUNCTION jobs_keep_id(), jobs_truncate_edges(), jobs_delete_edges(), job_edges_check();
ALTER TABLE job_edges
    ADD CONSTRAINT job_edges_job_id_fkey FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE,
    ADD CONSTRAINT job_edges_preceding_id_fkey FOREIGN KEY (preceding_id) REFERENCES jobs (id) ON DELETE CASCADE;
