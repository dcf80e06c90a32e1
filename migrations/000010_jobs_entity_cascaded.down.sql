CREATE INDEX jobs_entity_old ON jobs (entity_id, id) INCLUDE (status);
DROP INDEX jobs_entity;
ALTER INDEX jobs_entity_old RENAME TO jobs_entity;
